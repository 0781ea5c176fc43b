#include "engine/runner/extensions.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <mutex>
#include <unordered_map>

namespace torchpool {
namespace {

struct Registry {
  std::mutex mutex;
  std::unordered_map<std::string, std::string> by_real_path;  // real path -> path as given
  std::vector<std::string> order;
};

Registry& Extensions() {
  static Registry* registry = new Registry();  // never destroyed: the libraries stay loaded
  return *registry;
}

std::string Explain(const std::string& path, const std::string& error) {
  std::string hint;
  if (error.find("undefined symbol") != std::string::npos) {
    hint = " (it was built against another libtorch than the one torchpool uses: rebuild it against the same one)";
  } else if (error.find("wrong ELF class") != std::string::npos || error.find("invalid ELF header") != std::string::npos ||
             error.find("file too short") != std::string::npos) {
    hint = " (it is not a shared library for this platform)";
  } else if (error.find("cannot open shared object file") != std::string::npos) {
    hint = " (a library it depends on is missing: check LD_LIBRARY_PATH, or `ldd " + path + "`)";
  }
  return "cannot load extension " + path + ": " + error + hint;
}

}  // namespace

Status LoadExtensions(const std::vector<std::string>& paths) {
  Registry& registry = Extensions();
  std::lock_guard<std::mutex> lock(registry.mutex);
  for (const std::string& path : paths) {
    char resolved[PATH_MAX];
    if (realpath(path.c_str(), resolved) == nullptr) {
      return Status(ErrorCode::kExtensionLoad, "extension not found: " + path);
    }
    if (registry.by_real_path.count(resolved) > 0) continue;  // once per process
    // RTLD_GLOBAL: libraries that register operators may rely on each other's symbols.
    if (dlopen(resolved, RTLD_NOW | RTLD_GLOBAL) == nullptr) {
      const char* error = dlerror();
      return Status(ErrorCode::kExtensionLoad, Explain(path, error ? error : "unknown error"));
    }
    registry.by_real_path[resolved] = path;
    registry.order.push_back(path);
  }
  return Status::Ok();
}

std::vector<std::string> LoadedExtensions() {
  Registry& registry = Extensions();
  std::lock_guard<std::mutex> lock(registry.mutex);
  return registry.order;
}

}  // namespace torchpool
