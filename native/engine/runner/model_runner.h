#pragma once
// What runs a forward for an engine. The engine (scheduler, batching, staging, streams, pipeline,
// graphs, stats) is the same whatever the model is; a runner is the part that differs:
//   torchscript_runner.cc   a TorchScript module (torch.jit.save)
//   aoti_runner.cc          an AOTInductor package (.pt2, torch._inductor.aoti_compile_and_package)
// One runner per engine replica, used from its engine's threads only.

#include <ATen/core/ivalue.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "engine/forward_signature.h"

namespace torchpool {

// One block of device (or host) memory holding weights: replicas that share weights report the
// same block, so a device's weight bytes are the sum over its distinct blocks.
struct WeightBlock {
  const void* data;
  size_t bytes;
};

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;

  // On the engine's thread; on a CUDA engine its device and compute stream are current. Throws
  // (c10::Error, std::exception) when the forward fails, as a TorchScript forward does.
  virtual c10::IValue Forward(std::vector<c10::IValue> args,
                              const std::unordered_map<std::string, c10::IValue>& kwargs) = 0;

  virtual ForwardSignature Signature() const = 0;
  // The memory the model's weights take (parameters, buffers, constants), as distinct blocks.
  virtual std::vector<WeightBlock> Weights() const = 0;
  // "torchscript" or "aoti".
  virtual const char* Format() const = 0;
  // Whether the model calls libtorch's quantized (INT8) operators.
  virtual bool Quantized() const { return false; }
};

}  // namespace torchpool
