// PoolWrap, the way back (JS thread): engines' completions wake this thread (OnCompletionsReady),
// which drains its client's queue, turns each output into JavaScript values and settles its
// promise; engine health news becomes an `engineUnhealthy` event. The way in is pool_wrap.cc.

#include "binding/errors.h"
#include "binding/js_values.h"
#include "binding/pool_wrap.h"

namespace torchpool {

void PoolWrap::BeginRequest(Napi::Env env) {
  if (in_flight_++ == 0) {
    tsfn_.Ref(env);
    Ref();  // keep this object alive while promises depend on it
  }
}

void PoolWrap::EndRequest(Napi::Env env) {
  if (--in_flight_ == 0) {
    if (tsfn_live_) tsfn_.Unref(env);
    Unref();
  }
}

void PoolWrap::OnCompletionsReady(Napi::Env env, Napi::Function schedule_drain, Relay* relay, void*) {
  if (env == nullptr || relay->pool == nullptr) return;  // the pool or environment is gone
  // This runs from libuv, with no caller to hand an exception to: while a thread is being torn
  // down (worker.terminate()), calls into JavaScript fail and node-addon-api throws. Nothing
  // is lost by dropping the wake-up then: the environment cleanup detaches the pool.
  try {
    if (schedule_drain.IsEmpty()) {
      relay->pool->DrainCompletions(env);
    } else {
      schedule_drain.Call({});  // comes back through drain() in this loop iteration's check phase
    }
  } catch (...) {
  }
}

Napi::Value PoolWrap::Drain(const Napi::CallbackInfo& info) {
  DrainCompletions(info.Env());
  return info.Env().Undefined();
}

void PoolWrap::DrainCompletions(Napi::Env env) {
  if (!client_) return;
  std::vector<RequestPtr> requests;
  std::vector<EngineEvent> events;
  client_->Drain(&requests, &events);
  for (const EngineEvent& event : events) {
    Napi::HandleScope scope(env);
    EmitEngineUnhealthy(env, event);
  }
  const Clock::time_point drained = Clock::now();
  for (RequestPtr& request : requests) {
    Napi::HandleScope scope(env);
    request->drained = drained;
    Settle(env, *request);
    request.reset();
  }
  FinishDetachIfIdle(env);
}

void PoolWrap::Settle(Napi::Env env, Request& request) {
  auto deferred = static_cast<napi_deferred>(request.js_deferred);
  Napi::Value value;
  Status status = request.status;
  if (status.ok()) {
    try {
      status = request.output_targets.empty() ? IValueToJs(env, request.output, &value)
                                              : OutputToJs(env, request.output, request.output_targets, request.js_output_refs, &value);
    } catch (const Napi::Error& error) {
      status = Status(ErrorCode::kInternal, error.Message());
    }
  }
  request.output = c10::IValue();
  // Only now may the caller's input arrays go: the output could have been a view of one.
  request.args.clear();
  request.kwargs.clear();
  ReleaseInputRefs(env, request.js_input_refs);
  ReleaseInputRefs(env, request.js_output_refs);
  client_->CountSettled(status.ok());
  if (status.ok()) {
    napi_resolve_deferred(env, deferred, value);
  } else {
    napi_reject_deferred(env, deferred, MakeError(env, status));
  }
  core_->RecordLatency(request);  // after settling, so that settleMs and totalMs include it
  EndRequest(env);
}

void PoolWrap::EmitEngineUnhealthy(Napi::Env env, const EngineEvent& event) {
  if (on_event_.IsEmpty()) return;
  Napi::Object details = Napi::Object::New(env);
  details.Set("engine", event.engine);
  details.Set("device", event.device);
  details.Set("instance", event.instance);
  details.Set("error", MakeError(env, event.status));
  try {
    on_event_.Call({Napi::String::New(env, "engineUnhealthy"), details});
  } catch (const Napi::Error&) {
    // lib/pool.ts defers listeners to a microtask, so this does not happen; settling goes on.
  }
}

void PoolWrap::SettleAll(Napi::Env env, std::vector<RequestPtr> requests, const Status& status) {
  for (RequestPtr& request : requests) {
    Napi::HandleScope scope(env);
    request->status = status;
    Settle(env, *request);
    request.reset();
  }
}

// close(drain). Owner: stops the engines for every thread. Without drain, queued requests
// (of every thread) reject with CLOSED now; with drain, engines run them first; close(false)
// during a drain rejects what is still queued. Attached: this thread stops using the pool; its
// queued requests reject with CLOSED (or, with drain, run), and the promise resolves once its
// running ones settled.
}  // namespace torchpool
