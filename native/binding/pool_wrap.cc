#include "binding/pool_wrap.h"

#include "binding/errors.h"
#include "binding/js_values.h"
#include "binding/pool_workers.h"
#include "engine/batching.h"

namespace torchpool {

Napi::Function PoolWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativePool",
                     {InstanceMethod<&PoolWrap::Guard<&PoolWrap::Load>>("load"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Infer>>("infer"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Cancel>>("cancel"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Drain>>("drain"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Close>>("close"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Stats>>("stats"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Signature>>("signature")});
}

PoolWrap::PoolWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<PoolWrap>(info),
      env_(info.Env()),
      completions_([this] { tsfn_.NonBlockingCall(); }) {
  Napi::Env env = info.Env();
  if (info[0].IsFunction()) on_event_ = Napi::Persistent(info[0].As<Napi::Function>());
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
  // Requests still queued are dropped: nobody is left to settle them, and their input
  // references go with the environment.
  scheduler_.CloseNow();
  for (auto& engine : engines_) engine->Join();
  engines_.clear();
  completions_.Drain();
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

void PoolWrap::OnLoaded(std::vector<std::unique_ptr<Engine>> engines, ForwardSignature signature,
                        SchedulerOptions options) {
  engines_ = std::move(engines);
  signature_ = std::move(signature);
  engine_latency_.resize(engines_.size());
  scheduler_.Configure(static_cast<int>(engines_.size()), options);
  for (auto& engine : engines_) engine->Start(&scheduler_, &completions_);
  state_ = State::kReady;
}

void PoolWrap::OnLoadFailed() { state_ = State::kClosed; }

std::vector<Engine*> PoolWrap::EnginePointers() const {
  std::vector<Engine*> pointers;
  for (const auto& engine : engines_) pointers.push_back(engine.get());
  return pointers;
}

// infer(args, kwargs, id, priority, timeoutMs, batchable): lib/pool.ts has validated the options.
Napi::Value PoolWrap::Infer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != State::kReady) ThrowError(env, ErrorCode::kClosed, "the pool is closed");
  auto request = std::make_unique<Request>();
  Status status;
  Napi::Array args = info[0].As<Napi::Array>();
  request->args.resize(args.Length());
  for (uint32_t i = 0; i < args.Length() && status.ok(); ++i) {
    status = JsToIValue(args.Get(i), "inputs[" + std::to_string(i) + "]", &request->args[i],
                        &request->js_input_refs);
  }
  if (status.ok() && info[1].IsObject()) {
    Napi::Object kwargs = info[1].As<Napi::Object>();
    Napi::Array names = kwargs.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length() && status.ok(); ++i) {
      std::string name = names.Get(i).As<Napi::String>().Utf8Value();
      status = JsToIValue(kwargs.Get(name), "inputs." + name, &request->kwargs[name],
                          &request->js_input_refs);
    }
  }
  if (status.ok()) status = signature_.Prepare(request->args, request->kwargs);
  if (status.ok()) {
    request->id = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
    request->priority = info[3].As<Napi::Number>().Int32Value();
    const double timeout_ms = info[4].As<Napi::Number>().DoubleValue();
    const bool batchable = info[5].ToBoolean().Value();
    request->enqueued = Clock::now();
    if (timeout_ms > 0) {
      request->deadline = request->enqueued + std::chrono::microseconds(static_cast<int64_t>(timeout_ms * 1000));
    }
    if (batchable && scheduler_.batching_enabled()) {
      request->batch_key = BatchKey(request->args, request->kwargs, &request->rows);
    }
    // The deferred is attached after the push: only this thread settles requests, and it does
    // so after this call returns, so the engine may already be running it meanwhile.
    Request* queued = request.get();
    status = scheduler_.Submit(request);
    if (status.ok()) {
      napi_deferred deferred;
      napi_value promise;
      NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &deferred, &promise), Napi::Value());
      queued->js_deferred = deferred;
      BeginRequest(env);
      return Napi::Value(env, promise);
    }
  }
  // Refused (bad input, QUEUE_FULL, NO_DEVICE): a synchronous error, nothing was queued;
  // lib/pool.ts turns it into a rejection.
  request->args.clear();
  request->kwargs.clear();
  ReleaseInputRefs(env, request->js_input_refs);
  throw Napi::Error(env, MakeError(env, status));
}

// cancel(id, code): settles a request that is still queued with ABORTED or TIMEOUT.
Napi::Value PoolWrap::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  const bool timeout = info[1].As<Napi::String>().Utf8Value() == "TIMEOUT";
  RequestPtr request = scheduler_.Cancel(id);
  if (!request) return Napi::Boolean::New(env, false);
  request->status = timeout ? TimeoutStatus()
                            : Status(ErrorCode::kAborted, "the request was aborted before it started");
  Settle(env, *request);
  return Napi::Boolean::New(env, true);
}

void PoolWrap::BeginRequest(Napi::Env env) {
  if (in_flight_++ == 0) {
    tsfn_.Ref(env);
    Ref();  // keep this object alive while promises depend on it
  }
}

void PoolWrap::EndRequest(Napi::Env env) {
  ++completed_;
  if (--in_flight_ == 0) {
    if (tsfn_live_) tsfn_.Unref(env);
    Unref();
  }
}

void PoolWrap::OnCompletionsReady(Napi::Env env, Napi::Function schedule_drain, Relay* relay, void*) {
  if (env == nullptr || relay->pool == nullptr) return;  // the pool or environment is gone
  if (schedule_drain.IsEmpty()) {
    relay->pool->DrainCompletions(env);
  } else {
    schedule_drain.Call({});  // comes back through drain() in this loop iteration's check phase
  }
}

Napi::Value PoolWrap::Drain(const Napi::CallbackInfo& info) {
  DrainCompletions(info.Env());
  return info.Env().Undefined();
}

void PoolWrap::DrainCompletions(Napi::Env env) {
  for (RequestPtr& request : completions_.Drain()) {
    Napi::HandleScope scope(env);
    Settle(env, *request);
  }
}

void PoolWrap::Settle(Napi::Env env, Request& request) {
  auto deferred = static_cast<napi_deferred>(request.js_deferred);
  RecordLatency(request);
  if (request.engine_became_unhealthy) EmitEngineUnhealthy(env, request);
  Napi::Value value;
  Status status = request.status;
  if (status.ok()) {
    try {
      status = IValueToJs(env, request.output, &value);
    } catch (const Napi::Error& error) {
      status = Status(ErrorCode::kInternal, error.Message());
    }
  }
  request.output = c10::IValue();
  // Only now may the caller's input arrays go: the output could have been a view of one.
  request.args.clear();
  request.kwargs.clear();
  ReleaseInputRefs(env, request.js_input_refs);
  if (status.ok()) {
    napi_resolve_deferred(env, deferred, value);
  } else {
    ++failed_;
    napi_reject_deferred(env, deferred, MakeError(env, status));
  }
  EndRequest(env);
}

void PoolWrap::RecordLatency(const Request& request) {
  if (request.engine < 0) return;  // never ran (aborted, timed out, closed)
  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  const double queue = ms(request.started - request.enqueued);
  const double compute = ms(request.finished - request.started);
  const double total = ms(Clock::now() - request.enqueued);
  for (LatencySet* set : {&pool_latency_, &engine_latency_[request.engine]}) {
    set->queue.Add(queue);
    set->compute.Add(compute);
    set->total.Add(total);
  }
}

void PoolWrap::EmitEngineUnhealthy(Napi::Env env, const Request& request) {
  if (on_event_.IsEmpty()) return;
  const Engine& engine = *engines_[request.engine];
  Napi::Object details = Napi::Object::New(env);
  details.Set("engine", request.engine);
  details.Set("device", engine.config().device.str());
  details.Set("instance", engine.config().instance);
  details.Set("error", MakeError(env, request.status));
  try {
    on_event_.Call({Napi::String::New(env, "engineUnhealthy"), details});
  } catch (const Napi::Error&) {
    // lib/pool.ts defers listeners to a microtask, so this does not happen; settling goes on.
  }
}

void PoolWrap::RejectQueued(Napi::Env env, ErrorCode code, const std::string& message) {
  for (RequestPtr& request : scheduler_.CloseNow()) {
    request->status = Status(code, message);
    Napi::HandleScope scope(env);
    Settle(env, *request);
  }
}

// close(drain): stops accepting. Without drain, queued requests reject with CLOSED now; with
// drain, engines run them first. close(false) during a drain rejects what is still queued.
Napi::Value PoolWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool drain = info[0].ToBoolean().Value();
  const char* closed_message = "the pool was closed before this request ran";
  if (state_ == State::kClosing) {
    if (!drain) RejectQueued(env, ErrorCode::kClosed, closed_message);
    return env.Undefined();
  }
  if (state_ != State::kReady) ThrowError(env, ErrorCode::kInternal, "close() in the wrong state");
  state_ = State::kClosing;
  if (drain) {
    scheduler_.CloseWhenDrained();
  } else {
    RejectQueued(env, ErrorCode::kClosed, closed_message);
  }
  auto* worker = new CloseWorker(env, this);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

void PoolWrap::OnEnginesJoined(Napi::Env env) {
  DrainCompletions(env);  // forwards that were running when close() was called
  for (const auto& engine : engines_) final_engine_stats_.push_back(engine->Stats());
  engines_.clear();       // frees the model replicas
  state_ = State::kClosed;
  ReleaseNativeHandles();
}

Napi::Value PoolWrap::Signature(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  const auto& arguments = signature_.arguments();
  Napi::Array inputs = Napi::Array::New(env, arguments.size());
  for (size_t i = 0; i < arguments.size(); ++i) {
    Napi::Object arg = Napi::Object::New(env);
    arg.Set("name", arguments[i].name);
    arg.Set("type", arguments[i].type);
    arg.Set("optional", arguments[i].has_default);
    inputs.Set(static_cast<uint32_t>(i), arg);
  }
  result.Set("inputs", inputs);
  result.Set("output", signature_.return_type());
  return result;
}

}  // namespace torchpool
