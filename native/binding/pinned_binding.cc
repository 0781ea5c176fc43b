#include "binding/pinned_binding.h"

#include <string>

#include "binding/errors.h"
#include "engine/pinned_inputs.h"

namespace torchpool {

Napi::Value AllocPinned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    ThrowError(env, ErrorCode::kInvalidArg, "allocPinned(bytes, device): bytes and device must be numbers");
  }
  const double requested = info[0].As<Napi::Number>().DoubleValue();
  if (!(requested >= 0) || requested > 9007199254740991.0) ThrowError(env, ErrorCode::kInvalidArg, "allocPinned: bad byte count");
  const size_t bytes = static_cast<size_t>(requested);
  const int device = info[1].As<Napi::Number>().Int32Value();

  Napi::Object result = Napi::Object::New(env);
  std::string why;
  void* data = pinned_inputs::Allocate(bytes, device, &why);
  if (data == nullptr) {
    result.Set("reason", why);
    return result;
  }
  napi_value buffer;
  // The finalizer runs on this thread when the buffer is collected (or the environment ends).
  const napi_status status = napi_create_external_arraybuffer(
      env, data, bytes, [](napi_env, void* finalize_data, void*) { pinned_inputs::Free(finalize_data); }, nullptr, &buffer);
  if (status != napi_ok) {
    // Runtimes that forbid external buffers (Electron's sandbox): ordinary memory instead.
    pinned_inputs::Free(data);
    result.Set("reason", "this JavaScript runtime does not allow external ArrayBuffers");
    return result;
  }
  result.Set("buffer", Napi::Value(env, buffer));
  return result;
}

}  // namespace torchpool
