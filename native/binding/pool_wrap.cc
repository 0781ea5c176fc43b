#include "binding/pool_wrap.h"

#include "binding/errors.h"
#include "binding/js_values.h"
#include "binding/pool_workers.h"
#include "engine/batching.h"

namespace torchpool {

Napi::Function PoolWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativePool",
                     {InstanceMethod<&PoolWrap::Guard<&PoolWrap::Load>>("load"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Attach>>("attach"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Share>>("share"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Submit>>("submit"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Cancel>>("cancel"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Drain>>("drain"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Close>>("close"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Stats>>("stats"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Signature>>("signature"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Closed>>("closed"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::ProfileStart>>("profileStart"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::ProfileStop>>("profileStop")});
}

PoolWrap::PoolWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PoolWrap>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info[0].IsFunction()) on_event_ = Napi::Persistent(info[0].As<Napi::Function>());
  if (info[2].IsNumber()) thread_id_ = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
  if (!info[3].IsFunction()) ThrowError(env, ErrorCode::kInternal, "NativePool needs its onSettled callback");
  on_settled_ = Napi::Persistent(info[3].As<Napi::Function>());
  relay_ = new Relay{this};
  if (info[1].IsFunction()) {
    // The JS side defers the drain to setImmediate (lib/pool.ts): Node's thread-safe-function
    // dispatch would otherwise keep calling back, for up to 1000 wake-ups, while fast engines
    // keep finishing, and timers would wait that long.
    tsfn_ = CompletionTsfn::New(env, info[1].As<Napi::Function>(), "torchpool:completions", 0, 1, relay_,
                                &PoolWrap::OnTsfnFinalized, static_cast<void*>(nullptr));
  } else {
    tsfn_ = CompletionTsfn::New(env, "torchpool:completions", 0, 1, relay_, &PoolWrap::OnTsfnFinalized,
                                static_cast<void*>(nullptr));
  }
  tsfn_live_ = true;
  tsfn_.Unref(env);  // only requests in flight keep the process alive
  // Registered after the TSFN so that it runs before the TSFN's own cleanup (hooks run LIFO).
  napi_add_env_cleanup_hook(env, &PoolWrap::OnEnvCleanup, this);
  cleanup_hook_live_ = true;
}

PoolWrap::~PoolWrap() {
  // Reached when a pool that was never closed is garbage collected (it is idle then: requests
  // in flight hold a strong reference) or when the environment goes away.
  ShutDownNow();
  ReleaseNativeHandles();
}

void PoolWrap::OnEnvCleanup(void* self) {
  auto* pool = static_cast<PoolWrap*>(self);
  pool->cleanup_hook_live_ = false;
  pool->ShutDownNow();
  pool->ReleaseNativeHandles();
}

void PoolWrap::ShutDownNow() {
  if (core_ && client_) {
    if (owner_) {
      // The owner's thread is gone: every thread's queued requests are rejected with CLOSED on
      // their own thread, running forwards finish, the engines go.
      core_->CloseNow(Status(ErrorCode::kClosed, "the pool was closed: the thread that owns it exited"));
      core_->ReleaseEngines();
    } else {
      // Requests still queued are dropped (nobody is left to settle them); the forwards that
      // run now read this thread's memory, so this waits for them.
      core_->TakeQueued(client_.get()).clear();
    }
    client_->Detach();
    core_->RemoveClient(client_.get());
  }
  client_.reset();
  state_ = State::kClosed;
}

void PoolWrap::ReleaseNativeHandles() {
  if (tsfn_live_) {
    tsfn_live_ = false;
    relay_->pool = nullptr;
    tsfn_.Release();
  }
  if (cleanup_hook_live_) {
    cleanup_hook_live_ = false;
    napi_remove_env_cleanup_hook(env_, &PoolWrap::OnEnvCleanup, this);
  }
  on_event_.Reset();
  on_settled_.Reset();
  if (held_for_sharing_) {
    held_for_sharing_ = false;
    try {
      Unref();
    } catch (...) {
      // The environment is going away and takes the reference with it.
    }
  }
}

Napi::Value PoolWrap::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != State::kNew) ThrowError(env, ErrorCode::kInternal, "load() called twice");
  Napi::Object options = info[0].As<Napi::Object>();
  LoadPlan plan = ParseLoadPlan(env, options);
  state_ = State::kLoading;
  auto* worker = new LoadWorker(env, this, std::move(plan));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

void PoolWrap::Connect(std::shared_ptr<PoolCore> core, bool owner) {
  core_ = std::move(core);
  owner_ = owner;
  // The wake-up runs on engine threads; the client never calls it after Detach(), which runs
  // before the TSFN is released.
  CompletionTsfn tsfn = tsfn_;
  client_ = std::make_shared<Client>(thread_id_, owner, [tsfn]() mutable { tsfn.NonBlockingCall(); });
  core_->AddClient(client_);
  state_ = State::kReady;
}

void PoolWrap::OnLoaded(std::vector<std::unique_ptr<Engine>> engines, ForwardSignature signature,
                        SchedulerOptions options, PaddingSpec padding) {
  Connect(std::make_shared<PoolCore>(std::move(engines), std::move(signature), options, std::move(padding)), true);
}

void PoolWrap::OnLoadFailed() { state_ = State::kClosed; }

// attach(token): this thread uses the engines of the pool another thread shared.
Napi::Value PoolWrap::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != State::kNew) ThrowError(env, ErrorCode::kInternal, "attach() on a pool in use");
  const uint64_t token = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  std::shared_ptr<PoolCore> core = PoolCore::Find(token);
  if (!core) {
    state_ = State::kClosed;
    ThrowError(env, ErrorCode::kClosed,
               "the shared pool is closed (closed by its owner, or the thread that owns it exited)");
  }
  Connect(std::move(core), false);
  return env.Undefined();
}

// share(): the token other threads attach with. An owner that shared stays alive (no garbage
// collection) until close(), since other threads depend on it.
Napi::Value PoolWrap::Share(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != State::kReady) ThrowError(env, ErrorCode::kClosed, "the pool is closed");
  const uint64_t token = PoolCore::Share(core_);
  if (token == 0) ThrowError(env, ErrorCode::kClosed, "the pool is closed");
  if (owner_ && !held_for_sharing_) {
    held_for_sharing_ = true;
    Ref();
  }
  return Napi::Number::New(env, static_cast<double>(token));
}

// cancel(id, code): settles a request of this thread that is still queued with ABORTED or TIMEOUT.
Napi::Value PoolWrap::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!core_) return Napi::Boolean::New(env, false);
  const uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  const bool timeout = info[1].As<Napi::String>().Utf8Value() == "TIMEOUT";
  RequestPtr request = core_->Cancel(client_.get(), id);
  if (!request) return Napi::Boolean::New(env, false);
  request->status = timeout ? TimeoutStatus()
                            : Status(ErrorCode::kAborted, "the request was aborted before it started");
  std::vector<RequestPtr> cancelled;
  cancelled.push_back(std::move(request));
  SettleAll(env, std::move(cancelled));
  FinishDetachIfIdle(env);
  return Napi::Boolean::New(env, true);
}

// close(drain). Owner: stops the engines for every thread. Without drain, queued requests
// (of every thread) reject with CLOSED now; with drain, engines run them first; close(false)
// during a drain rejects what is still queued. Attached: this thread stops using the pool; its
// queued requests reject with CLOSED (or, with drain, run), and the promise resolves once its
// running ones settled.
Napi::Value PoolWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool drain = info[0].ToBoolean().Value();
  const Status closed(ErrorCode::kClosed, "the pool was closed before this request ran");
  if (state_ == State::kClosing) {
    if (!drain) {
      if (owner_) {
        core_->CloseNow(closed);
        DrainCompletions(env);
      } else {
        SettleAll(env, core_->TakeQueued(client_.get()), &closed);
        FinishDetachIfIdle(env);
      }
    }
    return env.Undefined();
  }
  if (state_ == State::kClosed) return env.Undefined();  // closed already: nothing left to reject
  if (state_ != State::kReady) ThrowError(env, ErrorCode::kInternal, "close() in the wrong state");
  state_ = State::kClosing;
  if (!owner_) {
    napi_value promise;
    NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &detach_deferred_, &promise), Napi::Value());
    if (!drain) SettleAll(env, core_->TakeQueued(client_.get()), &closed);
    FinishDetachIfIdle(env);
    return Napi::Value(env, promise);
  }
  if (drain) {
    core_->CloseWhenDrained();
  } else {
    core_->CloseNow(closed);
    DrainCompletions(env);  // this thread's share of them settles now
  }
  auto* worker = new CloseWorker(env, this, core_);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

void PoolWrap::FinishDetachIfIdle(Napi::Env env) {
  if (owner_ || state_ != State::kClosing || in_flight_ > 0 || detach_deferred_ == nullptr) return;
  client_->Detach();  // nothing of this thread is left in flight: returns at once
  core_->RemoveClient(client_.get());
  client_.reset();
  state_ = State::kClosed;
  napi_deferred deferred = detach_deferred_;
  detach_deferred_ = nullptr;
  ReleaseNativeHandles();
  napi_resolve_deferred(env, deferred, env.Undefined());
}

void PoolWrap::OnEnginesJoined(Napi::Env env) {
  DrainCompletions(env);  // forwards that were running when close() was called
  core_->ReleaseEngines();
  if (client_) {
    client_->Detach();
    core_->RemoveClient(client_.get());
    client_.reset();
  }
  state_ = State::kClosed;
  ReleaseNativeHandles();
}

Napi::Value PoolWrap::Closed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !core_ || core_->closed() || state_ == State::kClosed);
}

Napi::Value PoolWrap::Signature(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!core_) ThrowError(env, ErrorCode::kClosed, "the pool is closed");
  const ForwardSignature& signature = core_->signature();
  Napi::Object result = Napi::Object::New(env);
  const auto& arguments = signature.arguments();
  Napi::Array inputs = Napi::Array::New(env, arguments.size());
  for (size_t i = 0; i < arguments.size(); ++i) {
    Napi::Object arg = Napi::Object::New(env);
    arg.Set("name", arguments[i].name);
    arg.Set("type", arguments[i].type);
    arg.Set("optional", arguments[i].has_default);
    inputs.Set(static_cast<uint32_t>(i), arg);
  }
  result.Set("inputs", inputs);
  result.Set("output", signature.return_type());
  result.Set("format", signature.format());
  result.Set("quantized", signature.quantized());
  Napi::Object metadata = Napi::Object::New(env);
  for (const auto& [key, value] : signature.metadata()) metadata.Set(key, value);
  result.Set("metadata", metadata);
  return result;
}

}  // namespace torchpool
