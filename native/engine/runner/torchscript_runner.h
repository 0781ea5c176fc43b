#pragma once
// A TorchScript module as an engine's runner: loaded from the archive's bytes onto the engine's
// device, in eval mode, cast to the requested precision and layout, optionally frozen and
// optimized for inference.

#include <torch/script.h>

#include <memory>
#include <string>

#include "engine/execution_options.h"
#include "engine/runner/model_runner.h"
#include "engine/status.h"

namespace torchpool {

Status LoadTorchScriptRunner(const std::string& bytes, const std::string& label, const c10::Device& device,
                             bool optimize, const ExecutionOptions& execution, std::unique_ptr<ModelRunner>* out);

}  // namespace torchpool
