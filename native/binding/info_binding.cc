#include "binding/info_binding.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include "binding/errors.h"
#include "binding/pool_workers.h"
#include "engine/device_query.h"
#include "engine/kernel_trace.h"
#include "engine/runner/aoti_runner.h"
#include "engine/runner/extensions.h"
#include "models/model_zoo.h"

#ifndef TORCHPOOL_TORCH_ORIGIN
#define TORCHPOOL_TORCH_ORIGIN "unknown"
#endif

namespace torchpool {

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("torchVersion", TORCH_VERSION);
  result.Set("torchOrigin", TORCHPOOL_TORCH_ORIGIN);
  result.Set("cuda", CompiledWithCuda());
  result.Set("napiVersion", NAPI_VERSION);
  result.Set("parallelInfo", at::get_parallel_info());
  result.Set("aoti", AotiAvailable());
  result.Set("kernelProfiler", KernelTrace::Compiled());
  // INT8 models: the quantized engines this libtorch has, and the one in use now.
  Napi::Array engines = Napi::Array::New(env);
  for (at::QEngine engine : at::globalContext().supportedQEngines()) {
    if (engine != at::QEngine::NoQEngine) engines.Set(engines.Length(), QEngineName(engine));
  }
  result.Set("quantizedEngines", engines);
  result.Set("quantizedEngine", QEngineName(at::globalContext().qEngine()));
  Napi::Array extensions = Napi::Array::New(env);
  for (const std::string& path : LoadedExtensions()) extensions.Set(extensions.Length(), path);
  result.Set("extensions", extensions);
  return result;
}

Napi::Value ListCudaDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CudaQuery query = QueryCudaDevices();
  Napi::Array devices = Napi::Array::New(env, query.devices.size());
  for (size_t i = 0; i < query.devices.size(); ++i) {
    const CudaDeviceInfo& d = query.devices[i];
    Napi::Object device = Napi::Object::New(env);
    device.Set("index", d.index);
    device.Set("name", d.name);
    device.Set("totalMemory", static_cast<double>(d.total_memory));
    device.Set("freeMemory", static_cast<double>(d.free_memory));
    device.Set("computeCapability",
               std::to_string(d.compute_major) + "." + std::to_string(d.compute_minor));
    device.Set("multiprocessors", d.multiprocessors);
    devices.Set(static_cast<uint32_t>(i), device);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("devices", devices);
  result.Set("note", query.note);
  result.Set("runtimeVersion", query.runtime_version);
  result.Set("driverVersion", query.driver_version);
  return result;
}

Napi::Value BuiltinModelNamesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& names = BuiltinModelNames();
  Napi::Array result = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) result.Set(static_cast<uint32_t>(i), names[i]);
  return result;
}

namespace {

class WriteModelWorker : public Napi::AsyncWorker {
 public:
  WriteModelWorker(Napi::Env env, std::string name, std::string path, uint64_t seed)
      : Napi::AsyncWorker(env, "torchpool:write-model"),
        name_(std::move(name)),
        path_(std::move(path)),
        seed_(seed),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { error_ = WriteBuiltinModel(name_, path_, seed_); }
  void OnOK() override {
    if (error_.empty()) {
      deferred_.Resolve(Env().Undefined());
    } else {
      deferred_.Reject(MakeError(Env(), ErrorCode::kInvalidArg, error_));
    }
  }

 private:
  std::string name_, path_, error_;
  uint64_t seed_;
  Napi::Promise::Deferred deferred_;
};

}  // namespace

Napi::Value WriteBuiltinModelJs(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string path = info[1].As<Napi::String>().Utf8Value();
  auto seed = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
  auto* worker = new WriteModelWorker(info.Env(), name, path, seed);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace torchpool
