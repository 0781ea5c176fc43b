// Module initialisation only. The data flow starts in binding/pool_submit.cc (InferencePool) and
// continues in engine/ (work queue -> engine thread -> completion queue).
#include <napi.h>

#include "binding/errors.h"
#include "binding/fd_binding.h"
#include "binding/info_binding.h"
#include "binding/pinned_binding.h"
#include "binding/pool_wrap.h"

namespace torchpool {
namespace {

template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  return torchpool::Guarded(info.Env(), [&] { return Fn(info); });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  GetAddonData(env);
  exports.Set("NativePool", PoolWrap::Define(env));
  exports.Set("setErrorFactory", Napi::Function::New<Guarded<SetErrorFactory>>(env));
  exports.Set("buildInfo", Napi::Function::New<Guarded<BuildInfo>>(env));
  exports.Set("listCudaDevices", Napi::Function::New<Guarded<ListCudaDevices>>(env));
  exports.Set("builtinModelNames", Napi::Function::New<Guarded<BuiltinModelNamesJs>>(env));
  exports.Set("writeBuiltinModel", Napi::Function::New<Guarded<WriteBuiltinModelJs>>(env));
  exports.Set("dupFd", Napi::Function::New<Guarded<DupFd>>(env));
  exports.Set("allocPinned", Napi::Function::New<Guarded<AllocPinned>>(env));
  return exports;
}

}  // namespace
}  // namespace torchpool

static Napi::Object InitTorchpool(Napi::Env env, Napi::Object exports) {
  return torchpool::Init(env, exports);
}

NODE_API_MODULE(torchpool, InitTorchpool)
