#pragma once
// The native half of InferencePool, one object per JavaScript thread: turns submitted records
// into Requests for the shared PoolCore (pool_submit.cc) and hands their results to the JS side
// in batches when engines hand them back through this thread's Client (pool_settle.cc). The owner (load) creates the engines; an attached pool (attach)
// uses the engines of a pool that another thread shared.

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "binding/errors.h"
#include "engine/client.h"
#include "engine/engine.h"
#include "engine/forward_signature.h"
#include "engine/kernel_trace.h"
#include "engine/pool_core.h"

namespace torchpool {

class PoolWrap : public Napi::ObjectWrap<PoolWrap> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new NativePool(onEvent, scheduleDrain, threadId, onSettled): onEvent(name, details) reports
  // engine health changes; scheduleDrain() is called when completions wait and must call drain()
  // soon; onSettled(slab, values) receives every batch of settled requests (settled_records.h).
  explicit PoolWrap(const Napi::CallbackInfo& info);
  ~PoolWrap() override;

  // Called on the JS thread by the workers in pool_workers.cc.
  void OnLoaded(std::vector<std::unique_ptr<Engine>> engines, ForwardSignature signature,
                SchedulerOptions options, PaddingSpec padding);
  void OnLoadFailed();
  void OnEnginesJoined(Napi::Env env);

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
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value Share(const Napi::CallbackInfo& info);
  Napi::Value Submit(const Napi::CallbackInfo& info);  // pool_submit.cc
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Drain(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);  // pool_stats.cc
  Napi::Value Signature(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value ProfileStart(const Napi::CallbackInfo& info);  // pool_profile.cc
  Napi::Value ProfileStop(const Napi::CallbackInfo& info);

  void Connect(std::shared_ptr<PoolCore> core, bool owner);
  // One request of submit(), read from its record; the status says why it cannot run.
  Status ParseSubmission(Napi::Env env, const Napi::Array& objects, uint32_t* object, const double* numbers,
                         size_t* word, Request* request);
  void DrainCompletions(Napi::Env env);
  void EmitEngineUnhealthy(Napi::Env env, const EngineEvent& event);
  // Hands the requests' results (or `status`, when given, for all of them) to onSettled in one
  // batch, then lets the requests go.
  void SettleAll(Napi::Env env, std::vector<RequestPtr> requests, const Status* status = nullptr);
  void BeginRequest(Napi::Env env);
  void EndRequest(Napi::Env env);
  // An attached pool's close() completes once none of its requests is in flight any more.
  void FinishDetachIfIdle(Napi::Env env);
  // Teardown paths (environment cleanup, garbage collection): the owner closes the engines for
  // every thread; an attached pool leaves, waiting for the forwards that read its memory.
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
  Napi::FunctionReference on_settled_;
  uint64_t thread_id_ = 0;
  bool owner_ = true;
  bool held_for_sharing_ = false;  // an owner that shared stays alive until close()
  std::shared_ptr<PoolCore> core_;
  std::shared_ptr<Client> client_;
  size_t in_flight_ = 0;
  napi_deferred detach_deferred_ = nullptr;
  // pool.profile() of a pool with CUDA engines: the GPU's side, on this (the JS) thread, since
  // Kineto keeps its state per thread. `kernel_note_` says why no kernels were recorded.
  KernelTrace kernel_trace_;
  std::string kernel_note_;
};

}  // namespace torchpool
