#pragma once
// Reads a model once and makes one runner (replica) of it per engine device: a TorchScript
// module or an AOTInductor package, as the file's layout says (or the `format` option forces).

#include <map>
#include <memory>
#include <string>

#include "engine/execution_options.h"
#include "engine/runner/model_format.h"
#include "engine/runner/model_runner.h"
#include "engine/status.h"

namespace torchpool {

struct ModelSource {
  std::string label;  // the path, or "<buffer>", for messages
  std::string path;   // empty for bytes given in memory (until Materialize writes them out)
  std::string bytes;
  ModelInspection inspection;
  bool temporary = false;  // `path` is a file Materialize wrote, to delete after loading
  // What the runners of one device share during this load (AOTInductor: the loaders), by device.
  std::map<std::string, std::shared_ptr<void>> per_device;
};

struct RunnerOptions {
  std::string format = "auto";  // "auto", "torchscript" or "aoti"
  std::string model_name;       // AOTInductor: the model inside the package; empty: its only one
  bool optimize = false;
};

Status ReadModelFile(const std::string& path, ModelSource* out);
// Inspects bytes given in memory (a Buffer).
Status ModelFromBytes(std::string bytes, ModelSource* out);

// The runner of one engine, one of `engines_on_device` on its device. AOTInductor packages are
// loaded from a file: bytes given in memory are written to a temporary one first (Materialize),
// removed by ForgetTemporaryFile.
Status LoadRunner(ModelSource& source, const c10::Device& device, const RunnerOptions& options,
                  const ExecutionOptions& execution, size_t engines_on_device, std::unique_ptr<ModelRunner>* out);

// Removes a temporary file Materialize wrote, when the load is over.
void ForgetTemporaryFile(ModelSource* source);

// Checks a device exists in this process before anything is loaded onto it.
Status CheckDeviceAvailable(const c10::Device& device);

}  // namespace torchpool
