#pragma once
// Native libraries that register TorchScript operators and classes (custom ops, Torch-TensorRT's
// libtorchtrt_runtime.so): loaded before a model that needs them, once per process, and never
// unloaded (operators stay registered for the life of the process).

#include <string>
#include <vector>

#include "engine/status.h"

namespace torchpool {

// Loads each library that is not loaded yet (any thread). EXTENSION_LOAD for a missing file or
// one that does not load here (another architecture, another libtorch).
Status LoadExtensions(const std::vector<std::string>& paths);

// The libraries loaded so far, as given (for stats and messages).
std::vector<std::string> LoadedExtensions();

}  // namespace torchpool
