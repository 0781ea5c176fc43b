#pragma once
// Native code creates TorchpoolError instances (lib/errors.ts) through a factory that JS hands
// over once at load time, so users can rely on `instanceof` and `code`.

#include <napi.h>

#include "engine/status.h"

namespace torchpool {

// Stores the factory `(code, message) => TorchpoolError` for this Node environment.
Napi::Value SetErrorFactory(const Napi::CallbackInfo& info);

Napi::Value MakeError(Napi::Env env, const Status& status);
Napi::Value MakeError(Napi::Env env, ErrorCode code, const std::string& message);

// Throws a TorchpoolError as a JavaScript exception (use `return` after it).
void ThrowError(Napi::Env env, ErrorCode code, const std::string& message);

// Whether a caught JS error already carries an ERR_TORCHPOOL_ code.
bool HasTorchpoolCode(const Napi::Error& error);

// Runs a binding body. Napi::Error becomes a JS exception by itself; any other exception
// (a c10::Error from an allocation, say) would terminate the process, so it is converted here.
template <typename Fn>
Napi::Value Guarded(Napi::Env env, Fn&& body) {
  try {
    return body();
  } catch (const Napi::Error& error) {
    // TorchpoolErrors pass through; a plain Error from a failed N-API call ("Invalid
    // argument") gets a code, so every throw of the public API is a TorchpoolError.
    if (HasTorchpoolCode(error)) throw;
    throw Napi::Error(env, MakeError(env, ErrorCode::kInternal, error.Message()));
  } catch (...) {
    Status status = StatusFromCurrentException(ErrorCode::kInternal);
    throw Napi::Error(env, MakeError(env, status));
  }
}

// Per-environment state; also owns the references that must die with the environment.
struct AddonData {
  Napi::FunctionReference error_factory;
  // Property names read on every infer(), made once: Get("data") would build and intern the
  // string each time. Held in an array, as N-API 9 cannot reference a string itself.
  enum Key : uint32_t { kData, kShape, kDtype };
  Napi::Reference<Napi::Array> keys;
  Napi::Value Key(Key key) const { return keys.Value().Get(static_cast<uint32_t>(key)); }
};

AddonData& GetAddonData(Napi::Env env);

}  // namespace torchpool
