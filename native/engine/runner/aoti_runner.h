#pragma once
// An AOTInductor package (.pt2) as an engine's runner, through libtorch's
// torch::inductor::AOTIModelPackageLoader (libtorch 2.6 and later; CMake probes for it, see
// scripts/cmake/probe_torch_apis.cmake). The engines of one device share one copy of the
// package's weights (engine/runner/aoti_package.h); on a CUDA engine each run goes on the
// engine's own compute stream. Inputs are positional tensors (a package has no argument names);
// the outputs are the package's flat list (one tensor, or a tuple).

#include <cstddef>
#include <memory>
#include <string>

#include <c10/core/Device.h>

#include "engine/runner/model_runner.h"
#include "engine/status.h"

namespace torchpool {

// Whether this build can run AOTInductor packages; if not, why (for MODEL_LOAD messages).
bool AotiAvailable();
std::string AotiUnavailableReason();

struct AotiRunnerOptions {
  // The engine captures CUDA graphs of its runs: a loader of its own in single-threaded mode.
  bool single_threaded = false;
  size_t engines_on_device = 1;  // runners of the shared loader
};

// `path`: the package on disk (the loader unpacks it). `model_name`: which model of the package.
// `device_state`: what the engines of this device share (the loaders), kept by the caller for
// the whole load; empty for the first engine of the device.
Status LoadAotiRunner(const std::string& path, const std::string& model_name, const c10::Device& device,
                      const AotiRunnerOptions& options, std::shared_ptr<void>* device_state,
                      std::unique_ptr<ModelRunner>* out);

}  // namespace torchpool
