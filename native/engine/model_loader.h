#pragma once
// Reads a TorchScript archive once and makes one replica of it per engine device.

#include <torch/script.h>

#include <memory>
#include <string>

#include "engine/execution_options.h"
#include "engine/status.h"

namespace torchpool {

struct ModelBytes {
  std::string label;  // the path, or "<buffer>", for messages
  std::string bytes;
};

Status ReadModelFile(const std::string& path, ModelBytes* out);

// Loads a replica onto `device` in eval mode, in the precision and layout `execution` asks
// for; with `optimize`, freezes it and applies torch::jit::optimize_for_inference (falls back to
// the plain module if freezing fails).
Status LoadReplica(const ModelBytes& model, const c10::Device& device, bool optimize,
                   const ExecutionOptions& execution, torch::jit::Module* out);

// Checks a device exists in this process before anything is loaded onto it.
Status CheckDeviceAvailable(const c10::Device& device);

}  // namespace torchpool
