#include "engine/model_loader.h"

#include <torch/cuda.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/device_scope.h"
#include "engine/precision.h"
#include "engine/runner/aoti_runner.h"
#include "engine/runner/torchscript_runner.h"

namespace torchpool {

Status ReadModelFile(const std::string& path, ModelSource* out) {
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
  out->path = path;
  out->bytes = contents.str();
  if (out->bytes.empty()) {
    return Status(ErrorCode::kModelLoad, "model file is empty: " + path);
  }
  out->inspection = InspectModel(out->bytes);
  return Status::Ok();
}

Status ModelFromBytes(std::string bytes, ModelSource* out) {
  if (bytes.empty()) return Status(ErrorCode::kModelLoad, "the model buffer is empty");
  out->label = "<buffer>";
  out->bytes = std::move(bytes);
  out->inspection = InspectModel(out->bytes);
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

// Writes bytes given in memory to a file the AOTInductor loader can open.
Status Materialize(ModelSource* source) {
  if (!source->path.empty()) return Status::Ok();
  char name[] = "/tmp/torchpool-model-XXXXXX.pt2";
  const int fd = mkstemps(name, 4);
  if (fd < 0) return Status(ErrorCode::kModelLoad, std::string("cannot write the package to a temporary file: ") + std::strerror(errno));
  const char* data = source->bytes.data();
  size_t left = source->bytes.size();
  while (left > 0) {
    const ssize_t written = write(fd, data, left);
    if (written <= 0) {
      const int err = errno;
      close(fd);
      unlink(name);
      return Status(ErrorCode::kModelLoad, std::string("cannot write the package to a temporary file: ") + std::strerror(err));
    }
    data += written;
    left -= static_cast<size_t>(written);
  }
  close(fd);
  source->path = name;
  source->temporary = true;
  return Status::Ok();
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "'" : ", '") + item + "'";
  return out;
}

}  // namespace

void ForgetTemporaryFile(ModelSource* source) {
  if (!source->temporary) return;
  unlink(source->path.c_str());
  source->path.clear();
  source->temporary = false;
}

Status LoadRunner(ModelSource& source, const c10::Device& device, const RunnerOptions& options,
                  const ExecutionOptions& execution, size_t engines_on_device, std::unique_ptr<ModelRunner>* out) {
  TORCHPOOL_RETURN_IF_ERROR(CheckDeviceAvailable(device));
  const ModelInspection& inspection = source.inspection;
  const bool aoti = options.format == "aoti" || (options.format == "auto" && inspection.format == ModelFormat::kAoti);
  if (!aoti) {
    if (!options.model_name.empty()) {
      return Status(ErrorCode::kInvalidArg, "modelName picks a model inside an AOTInductor package, but " + source.label + " is TorchScript");
    }
    // Loading, casting, freezing and optimize_for_inference create tensors on the current
    // device wherever the model says just "cuda": make that this engine's GPU.
    DeviceScope device_scope(device);
    return LoadTorchScriptRunner(source.bytes, source.label, device, options.optimize, execution, out);
  }
  if (!AotiAvailable()) return Status(ErrorCode::kModelLoad, "cannot load " + source.label + ": " + AotiUnavailableReason());
  if (execution.precision != Precision::kFp32 || execution.channels_last) {
    return Status(ErrorCode::kInvalidArg, std::string("precision and channelsLast are fixed when an AOTInductor package is compiled (") +
                                              "export the model in the precision and layout you want), so " + source.label +
                                              " cannot run with precision '" + PrecisionName(execution.precision) + "'" +
                                              (execution.channels_last ? " and channelsLast" : ""));
  }
  std::string name = options.model_name;
  const std::vector<std::string>& models = inspection.aoti_models;
  if (name.empty()) {
    if (models.size() == 1) {
      name = models.front();
    } else if (std::find(models.begin(), models.end(), "model") != models.end()) {
      name = "model";
    } else if (models.empty()) {
      name = "model";  // format forced: let the loader say what it finds
    } else {
      return Status(ErrorCode::kInvalidArg, "the package " + source.label + " holds several models (" + Join(models) + "): pick one with modelName");
    }
  } else if (!models.empty() && std::find(models.begin(), models.end(), name) == models.end()) {
    return Status(ErrorCode::kModelLoad, "the package " + source.label + " has no model '" + name + "' (it holds " + Join(models) + ")");
  }
  TORCHPOOL_RETURN_IF_ERROR(Materialize(&source));
  AotiRunnerOptions runner;
  runner.single_threaded = device.is_cuda() && execution.cuda_graphs;
  runner.engines_on_device = engines_on_device;
  return LoadAotiRunner(source.path, name, device, runner, &source.per_device[device.str()], out);
}

}  // namespace torchpool
