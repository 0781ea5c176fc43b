#include "binding/pool_wrap.h"

#include "binding/errors.h"
#include "binding/js_values.h"
#include "binding/pool_workers.h"

namespace torchpool {

Napi::Function PoolWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativePool",
                     {InstanceMethod<&PoolWrap::Guard<&PoolWrap::Load>>("load"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Infer>>("infer"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Close>>("close"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Stats>>("stats"),
                      InstanceMethod<&PoolWrap::Guard<&PoolWrap::Signature>>("signature")});
}

PoolWrap::PoolWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<PoolWrap>(info),
      env_(info.Env()),
      completions_([this] { tsfn_.NonBlockingCall(); }) {
  Napi::Env env = info.Env();
  relay_ = new Relay{this};
  tsfn_ = CompletionTsfn::New(env, "torchpool:completions", 0, 1, relay_, &PoolWrap::OnTsfnFinalized,
                              static_cast<void*>(nullptr));
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
  queue_.Close();
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
}

Napi::Value PoolWrap::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != State::kNew) ThrowError(env, ErrorCode::kInternal, "load() called twice");
  Napi::Object options = info[0].As<Napi::Object>();
  LoadPlan plan;
  Napi::Value model = options.Get("model");
  if (model.IsBuffer()) {
    plan.model_buffer = Napi::Persistent(model.As<Napi::Buffer<char>>());
  } else {
    plan.model_path = model.As<Napi::String>().Utf8Value();
  }
  Napi::Array devices = options.Get("devices").As<Napi::Array>();
  Napi::Array threads = options.Get("threads").As<Napi::Array>();
  for (uint32_t i = 0; i < devices.Length(); ++i) {
    std::string name = devices.Get(i).As<Napi::String>().Utf8Value();
    EngineConfig config;
    config.index = static_cast<int>(i);
    try {
      config.device = c10::Device(name);
    } catch (...) {
      ThrowError(env, ErrorCode::kInvalidArg, "devices[" + std::to_string(i) + "]: '" + name +
                                                  "' is not a device (expected 'cpu' or 'cuda:N')");
    }
    config.intra_op_threads = std::max(1, threads.Get(i).As<Napi::Number>().Int32Value());
    plan.engines.push_back(config);
  }
  plan.optimize = options.Get("optimize").ToBoolean().Value();
  state_ = State::kLoading;
  auto* worker = new LoadWorker(env, this, std::move(plan));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

void PoolWrap::OnLoaded(std::vector<std::unique_ptr<Engine>> engines, ForwardSignature signature) {
  engines_ = std::move(engines);
  signature_ = std::move(signature);
  for (auto& engine : engines_) engine->Start(&queue_, &completions_);
  state_ = State::kReady;
}

void PoolWrap::OnLoadFailed() { state_ = State::kClosed; }

std::vector<Engine*> PoolWrap::EnginePointers() const {
  std::vector<Engine*> pointers;
  for (const auto& engine : engines_) pointers.push_back(engine.get());
  return pointers;
}

Napi::Value PoolWrap::Infer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != State::kReady) {
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(MakeError(env, ErrorCode::kClosed, "the pool is closed"));
    return deferred.Promise();
  }
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
  if (!status.ok()) {
    // Bad input is a synchronous error: nothing was queued (lib/pool.ts turns it into a rejection).
    request->args.clear();
    request->kwargs.clear();
    ReleaseInputRefs(env, request->js_input_refs);
    throw Napi::Error(env, MakeError(env, status));
  }
  // The raw deferred travels with the request and is settled in Settle() on this thread.
  napi_deferred deferred;
  napi_value promise;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &deferred, &promise), Napi::Value());
  request->js_deferred = deferred;
  request->enqueued = Clock::now();
  BeginRequest(env);
  queue_.Push(std::move(request));
  return Napi::Value(env, promise);
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

void PoolWrap::OnCompletionsReady(Napi::Env env, Napi::Function, Relay* relay, void*) {
  if (env == nullptr || relay->pool == nullptr) return;  // the pool or environment is gone
  relay->pool->DrainCompletions(env);
}

void PoolWrap::DrainCompletions(Napi::Env env) {
  for (RequestPtr& request : completions_.Drain()) {
    Napi::HandleScope scope(env);
    Settle(env, *request);
  }
}

void PoolWrap::Settle(Napi::Env env, Request& request) {
  auto deferred = static_cast<napi_deferred>(request.js_deferred);
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
    napi_reject_deferred(env, deferred, MakeError(env, status));
  }
  EndRequest(env);
}

Napi::Value PoolWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ == State::kClosing || state_ == State::kClosed || state_ == State::kLoading) {
    ThrowError(env, ErrorCode::kInternal, "close() in the wrong state");  // lib/pool.ts guards this
  }
  state_ = State::kClosing;
  for (RequestPtr& request : queue_.Close()) {
    request->status = Status(ErrorCode::kClosed, "the pool was closed before this request ran");
    Napi::HandleScope scope(env);
    Settle(env, *request);
  }
  auto* worker = new CloseWorker(env, this);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

void PoolWrap::OnEnginesJoined(Napi::Env env) {
  DrainCompletions(env);  // forwards that were running when close() was called
  engines_.clear();       // frees the model replicas
  state_ = State::kClosed;
  ReleaseNativeHandles();
}

Napi::Value PoolWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object stats = Napi::Object::New(env);
  Napi::Array engines = Napi::Array::New(env, engines_.size());
  for (size_t i = 0; i < engines_.size(); ++i) {
    EngineStats s = engines_[i]->Stats();
    Napi::Object e = Napi::Object::New(env);
    e.Set("index", s.index);
    e.Set("device", s.device);
    e.Set("threads", s.threads);
    e.Set("requests", static_cast<double>(s.requests));
    e.Set("failures", static_cast<double>(s.failures));
    e.Set("busyMs", s.busy_ms);
    e.Set("busy", s.busy);
    engines.Set(static_cast<uint32_t>(i), e);
  }
  stats.Set("engines", engines);
  stats.Set("queueDepth", static_cast<double>(queue_.Depth()));
  stats.Set("inFlight", static_cast<double>(in_flight_));
  stats.Set("completed", static_cast<double>(completed_));
  return stats;
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
