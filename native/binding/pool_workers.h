#pragma once
// One-shot jobs that must not run on the JS thread: loading replicas and joining engine threads.
// They use libuv's pool, which is fine for rare work; forwards never run there.

#include <napi.h>

#include <ATen/Context.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/forward_signature.h"
#include "engine/model_loader.h"
#include "engine/pool_core.h"

namespace torchpool {

class PoolWrap;

struct LoadPlan {
  std::string model_path;           // empty when the model comes from a Buffer
  Napi::Reference<Napi::Buffer<char>> model_buffer;
  std::vector<EngineConfig> engines;
  SchedulerOptions scheduler;
  RunnerOptions runner;             // format, modelName, optimize
  std::vector<std::string> extensions;  // libraries to load (once per process) before the model
  int cudnn_benchmark = -1;  // -1: leave libtorch's setting alone
  int allow_tf32 = -1;
  int profiling_executor = -1;  // TorchScript's profiling executor (torch::jit::getProfilingMode)
  int tensor_expr_fuser = -1;   // TorchScript's tensor-expression fuser
  std::string quantized_engine;  // empty: leave libtorch's; else a name of at::QEngine ("qnnpack")
};

// What torchpool set process-wide: -1 no pool set it; 0 / 1 the value the first pool set.
struct ProcessSettingsValues {
  int cudnn_benchmark = -1;
  int allow_tf32 = -1;
  int profiling_executor = -1;
  int tensor_expr_fuser = -1;
  std::string quantized_engine;  // empty: no pool set it
};

// load_plan.cc: JS plan -> LoadPlan (JS thread), and the process-wide switches it names:
// applied by the first pool that names them; the warnings say where a later pool differed.
LoadPlan ParseLoadPlan(Napi::Env env, Napi::Object options);
std::vector<std::string> ApplyGlobalSettings(const LoadPlan& plan);
ProcessSettingsValues ProcessSettingsSnapshot();
// A quantized engine as torchpool's options name it: "qnnpack", "onednn", "x86", "fbgemm".
std::string QEngineName(at::QEngine engine);

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, PoolWrap* pool, LoadPlan plan);
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override;
  void OnOK() override;

 private:
  PoolWrap* pool_;
  Napi::ObjectReference pool_ref_;
  LoadPlan plan_;
  const char* buffer_data_ = nullptr;
  size_t buffer_size_ = 0;
  Napi::Promise::Deferred deferred_;
  Status status_;
  std::vector<std::string> warnings_;
  std::vector<std::unique_ptr<Engine>> engines_;
  ForwardSignature signature_;
  std::string format_;  // "torchscript" or "aoti"
  // Once the first replica's signature is known: padded inputs' positions, warmup in forward's order.
  Status ResolveNames(const ForwardSignature& signature);
  PaddingSpec padding_;
  std::vector<WarmupShape> warmup_;
};

// Joins the engine threads (each finishes its running forward) off the JS thread.
class CloseWorker : public Napi::AsyncWorker {
 public:
  CloseWorker(Napi::Env env, PoolWrap* pool, std::shared_ptr<PoolCore> core);
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override;
  void OnOK() override;

 private:
  PoolWrap* pool_;
  Napi::ObjectReference pool_ref_;
  std::shared_ptr<PoolCore> core_;  // the engines cannot go while this joins them
  Napi::Promise::Deferred deferred_;
};

}  // namespace torchpool
