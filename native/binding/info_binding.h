#pragma once
// Module-level functions: build facts, device listing, the built-in model generator.

#include <napi.h>

namespace torchpool {

Napi::Value BuildInfo(const Napi::CallbackInfo& info);
Napi::Value ListCudaDevices(const Napi::CallbackInfo& info);
Napi::Value BuiltinModelNamesJs(const Napi::CallbackInfo& info);
// writeBuiltinModel(name, path, seed) -> Promise<void>, generated on a libuv worker.
Napi::Value WriteBuiltinModelJs(const Napi::CallbackInfo& info);

}  // namespace torchpool
