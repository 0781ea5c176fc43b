#include "binding/errors.h"

namespace torchpool {

AddonData& GetAddonData(Napi::Env env) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data == nullptr) {
    data = new AddonData();
    Napi::Array keys = Napi::Array::New(env, 3);
    keys.Set(static_cast<uint32_t>(AddonData::kData), "data");
    keys.Set(static_cast<uint32_t>(AddonData::kShape), "shape");
    keys.Set(static_cast<uint32_t>(AddonData::kDtype), "dtype");
    data->keys = Napi::Persistent(keys);
    env.SetInstanceData(data);  // deleted by node-addon-api when the environment goes
  }
  return *data;
}

Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) {
    throw Napi::TypeError::New(info.Env(), "setErrorFactory expects a function");
  }
  GetAddonData(info.Env()).error_factory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value MakeError(Napi::Env env, ErrorCode code, const std::string& message) {
  std::string full_code = std::string("ERR_TORCHPOOL_") + ErrorCodeName(code);
  AddonData& data = GetAddonData(env);
  if (!data.error_factory.IsEmpty()) {
    return data.error_factory.Call(
        {Napi::String::New(env, full_code), Napi::String::New(env, message)});
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, full_code));
  return error.Value();
}

Napi::Value MakeError(Napi::Env env, const Status& status) {
  return MakeError(env, status.code(), status.message());
}

bool HasTorchpoolCode(const Napi::Error& error) {
  Napi::Value value = error.Value();
  if (!value.IsObject()) return false;
  Napi::Value code = value.As<Napi::Object>().Get("code");
  return code.IsString() && code.As<Napi::String>().Utf8Value().rfind("ERR_TORCHPOOL_", 0) == 0;
}

void ThrowError(Napi::Env env, ErrorCode code, const std::string& message) {
  Napi::Value error = MakeError(env, code, message);
  throw Napi::Error(env, error);
}

}  // namespace torchpool
