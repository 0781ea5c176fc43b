#include "engine/model_loader.h"

#include "engine/device_scope.h"
#include "engine/precision.h"

#include <torch/cuda.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace torchpool {

Status ReadModelFile(const std::string& path, ModelBytes* out) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    int err = errno;
    if (err == ENOENT) return Status(ErrorCode::kModelLoad, "model file not found: " + path);
    return Status(ErrorCode::kModelLoad,
                  "cannot read model file " + path + ": " + std::strerror(err));
  }
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) {
    return Status(ErrorCode::kModelLoad, "error while reading model file " + path);
  }
  out->label = path;
  out->bytes = contents.str();
  if (out->bytes.empty()) {
    return Status(ErrorCode::kModelLoad, "model file is empty: " + path);
  }
  return Status::Ok();
}

Status CheckDeviceAvailable(const c10::Device& device) {
  if (device.is_cpu()) return Status::Ok();
  if (!device.is_cuda()) {
    return Status(ErrorCode::kNoDevice, "unsupported device type: " + device.str());
  }
  if (!torch::cuda::is_available()) {
    return Status(ErrorCode::kNoDevice,
                  "device " + device.str() + " requested, but no CUDA device is usable here " +
                      "(libtorch without CUDA, no GPU, or no driver)");
  }
  int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  if (device.index() >= count) {
    return Status(ErrorCode::kNoDevice, "device " + device.str() + " requested, but only " +
                                            std::to_string(count) + " CUDA device(s) exist");
  }
  return Status::Ok();
}

namespace {

std::string LoadHint(const std::string& message) {
  if (message.find("central directory") != std::string::npos ||
      message.find("file not found") != std::string::npos ||
      message.find("constants.pkl") != std::string::npos) {
    return " (not a complete TorchScript archive: the file may be truncated, or saved with "
           "torch.save instead of torch.jit.save(torch.jit.script(model)))";
  }
  return "";
}

}  // namespace

Status LoadReplica(const ModelBytes& model, const c10::Device& device, bool optimize,
                   const ExecutionOptions& execution, torch::jit::Module* out) {
  TORCHPOOL_RETURN_IF_ERROR(CheckDeviceAvailable(device));
  // Loading, casting, freezing and optimize_for_inference create tensors on the current device
  // wherever the model says just "cuda" (constants, folded buffers): make that this engine's GPU.
  DeviceScope device_scope(device);
  torch::jit::Module module;
  try {
    std::istringstream stream(model.bytes);
    module = torch::jit::load(stream, device);
  } catch (...) {
    Status status = StatusFromCurrentException(ErrorCode::kModelLoad);
    if (status.code() != ErrorCode::kModelLoad) return status;  // CUDA / out of memory
    return Status(ErrorCode::kModelLoad, "cannot load TorchScript model from " + model.label +
                                             LoadHint(status.message()) + ": " +
                                             status.message());
  }
  if (!module.find_method("forward")) {
    return Status(ErrorCode::kModelLoad, "the model in " + model.label + " has no forward method");
  }
  module.eval();
  TORCHPOOL_RETURN_IF_ERROR(PrepareModule(&module, execution));
  if (optimize) {
    try {
      torch::jit::Module frozen = torch::jit::freeze(module);
      module = torch::jit::optimize_for_inference(frozen);
    } catch (...) {
      // Some scripted modules cannot be frozen (e.g. they mutate attributes); run them as-is.
      Status status = StatusFromCurrentException(ErrorCode::kModelLoad);
      if (status.code() != ErrorCode::kModelLoad) return status;
    }
  }
  *out = std::move(module);
  return Status::Ok();
}

}  // namespace torchpool
