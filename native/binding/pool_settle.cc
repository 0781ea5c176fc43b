// PoolWrap, the way back (JS thread): engines' completions wake this thread (OnCompletionsReady),
// which drains its client's queue and hands the results to lib/settle.ts in one batch
// (settled_records.h), which settles the promises; engine health news becomes an
// `engineUnhealthy` event. The way in is pool_submit.cc.

#include "binding/errors.h"
#include "binding/js_values.h"
#include "binding/pool_wrap.h"
#include "binding/settled_records.h"

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
  for (RequestPtr& request : requests) request->drained = drained;
  if (!requests.empty()) SettleAll(env, std::move(requests));
  FinishDetachIfIdle(env);
}

void PoolWrap::SettleAll(Napi::Env env, std::vector<RequestPtr> requests, const Status* status) {
  if (requests.empty()) return;
  Napi::HandleScope scope(env);
  if (status != nullptr) {
    for (RequestPtr& request : requests) request->status = *status;
  }
  const SettledBatch batch = PackSettled(env, requests);
  for (RequestPtr& request : requests) {
    // Only now may the caller's input arrays go (lib/settle.ts drops them when it settles): the
    // output could have been a view of one, and PackSettled has copied it.
    request->output = c10::IValue();
    request->args.clear();
    request->kwargs.clear();
    ReleaseInputRefs(env, request->js_output_refs);
    client_->CountSettled(request->status.ok());
  }
  if (!on_settled_.IsEmpty()) {
    try {
      on_settled_.Call({batch.slab, batch.values});
    } catch (const Napi::Error&) {
      // lib/settle.ts does not throw; a thread being torn down cannot be called into. Settling
      // the rest of the pool's work goes on either way.
    }
  }
  for (RequestPtr& request : requests) {
    core_->RecordLatency(*request);  // after settling, so that settleMs and totalMs include it
    request.reset();
    EndRequest(env);
  }
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

}  // namespace torchpool
