#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace torchpool {

// Names of the built-in models, in a stable order.
const std::vector<std::string>& BuiltinModelNames();

// Builds the named model with weights from `seed` and saves it as TorchScript at `path`.
// Returns an empty string on success, otherwise a human-readable error (unknown name, write failure).
// Never throws (catch c10::Error / std::exception inside).
std::string WriteBuiltinModel(const std::string& name, const std::string& path, uint64_t seed);

}  // namespace torchpool
