#pragma once
// An AOTInductor package (.pt2) as an engine's runner, through libtorch's
// torch::inductor::AOTIModelPackageLoader (libtorch 2.6 and later; CMake probes for it, see
// scripts/cmake/probe_torch_apis.cmake). One loader per engine replica; on a CUDA engine each
// run goes on the engine's own compute stream. Inputs are positional tensors (a package has no
// argument names); the outputs are the package's flat list (one tensor, or a tuple).

#include <memory>
#include <string>

#include <c10/core/Device.h>

#include "engine/runner/model_runner.h"
#include "engine/status.h"

namespace torchpool {

// Whether this build can run AOTInductor packages; if not, why (for MODEL_LOAD messages).
bool AotiAvailable();
std::string AotiUnavailableReason();

// `path`: the package on disk (the loader unpacks it). `model_name`: which model of the package.
Status LoadAotiRunner(const std::string& path, const std::string& model_name, const c10::Device& device,
                      std::unique_ptr<ModelRunner>* out);

}  // namespace torchpool
