#pragma once
// The native half of InferencePool: turns JS calls into Requests for the shared Scheduler and
// settles their promises when engines hand them back through the CompletionQueue.

#include <napi.h>

#include <memory>
#include <vector>

#include "binding/errors.h"
#include "engine/completion_queue.h"
#include "engine/engine.h"
#include "engine/forward_signature.h"
#include "engine/latency_window.h"
#include "engine/scheduler.h"

namespace torchpool {

class PoolWrap : public Napi::ObjectWrap<PoolWrap> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new NativePool(onEvent, scheduleDrain): onEvent(name, details) reports engine health
  // changes; scheduleDrain() is called when completions wait and must call drain() soon.
  explicit PoolWrap(const Napi::CallbackInfo& info);
  ~PoolWrap() override;

  // Called on the JS thread by the workers in pool_workers.cc.
  void OnLoaded(std::vector<std::unique_ptr<Engine>> engines, ForwardSignature signature,
                SchedulerOptions options);
  void OnLoadFailed();
  void OnEnginesJoined(Napi::Env env);
  std::vector<Engine*> EnginePointers() const;

 private:
  enum class State { kNew, kLoading, kReady, kClosing, kClosed };

  // The TSFN's context outlives this object until the TSFN is finalized, so a wake-up that was
  // already queued when the pool went away finds a null pool instead of freed memory.
  struct Relay {
    PoolWrap* pool;
  };
  static void OnCompletionsReady(Napi::Env env, Napi::Function, Relay* relay, void*);
  static void OnTsfnFinalized(Napi::Env, void*, Relay* relay) { delete relay; }
  static void OnEnvCleanup(void* self);

  template <Napi::Value (PoolWrap::*Method)(const Napi::CallbackInfo&)>
  Napi::Value Guard(const Napi::CallbackInfo& info) {
    return Guarded(info.Env(), [&] { return (this->*Method)(info); });
  }

  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Infer(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Drain(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);  // pool_stats.cc
  Napi::Value Signature(const Napi::CallbackInfo& info);

  void DrainCompletions(Napi::Env env);
  void Settle(Napi::Env env, Request& request);
  void RecordLatency(const Request& request);
  void EmitEngineUnhealthy(Napi::Env env, const Request& request);
  void RejectQueued(Napi::Env env, ErrorCode code, const std::string& message);
  void BeginRequest(Napi::Env env);
  void EndRequest(Napi::Env env);
  // Stops and joins every engine thread without touching JavaScript (teardown paths).
  void ShutDownNow();
  void ReleaseNativeHandles();

  using CompletionTsfn = Napi::TypedThreadSafeFunction<Relay, void, &PoolWrap::OnCompletionsReady>;

  State state_ = State::kNew;
  napi_env env_;
  CompletionTsfn tsfn_;
  Relay* relay_ = nullptr;
  bool tsfn_live_ = false;
  bool cleanup_hook_live_ = false;
  Napi::FunctionReference on_event_;
  Scheduler scheduler_;
  CompletionQueue completions_;
  std::vector<std::unique_ptr<Engine>> engines_;
  ForwardSignature signature_;
  size_t in_flight_ = 0;
  uint64_t completed_ = 0;
  uint64_t failed_ = 0;
  LatencySet pool_latency_;
  std::vector<LatencySet> engine_latency_;
  std::vector<EngineStats> final_engine_stats_;  // kept when close() frees the engines
};

}  // namespace torchpool
