// PoolWrap::Stats: the counters behind pool.stats(). Engine counters are atomics written by the
// engine threads; latency windows live on the JS thread; lanes are read under the scheduler lock.

#include "binding/pool_wrap.h"

namespace torchpool {
namespace {

Napi::Object PercentilesToJs(Napi::Env env, const LatencyWindow& window) {
  Percentiles p = window.Summarize();
  Napi::Object out = Napi::Object::New(env);
  out.Set("p50", p.p50);
  out.Set("p95", p.p95);
  out.Set("p99", p.p99);
  out.Set("count", static_cast<double>(p.count));
  return out;
}

Napi::Object LatencyToJs(Napi::Env env, const LatencySet& set) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("queueMs", PercentilesToJs(env, set.queue));
  out.Set("computeMs", PercentilesToJs(env, set.compute));
  out.Set("totalMs", PercentilesToJs(env, set.total));
  return out;
}

}  // namespace

Napi::Value PoolWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object stats = Napi::Object::New(env);
  // After close() the replicas are gone; their last counters stay readable.
  std::vector<EngineStats> all = final_engine_stats_;
  if (!engines_.empty()) {
    all.clear();
    for (const auto& engine : engines_) all.push_back(engine->Stats());
  }
  const bool have_lanes = state_ != State::kNew && state_ != State::kLoading && !all.empty();
  Napi::Array engines = Napi::Array::New(env, all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const EngineStats& s = all[i];
    LaneStats lane = have_lanes ? scheduler_.Lane(static_cast<int>(i)) : LaneStats{0, 0, false};
    Napi::Object e = Napi::Object::New(env);
    e.Set("index", s.index);
    e.Set("device", s.device);
    e.Set("instance", s.instance);
    e.Set("threads", s.threads);
    e.Set("healthy", lane.healthy);
    e.Set("requests", static_cast<double>(s.requests));
    e.Set("batches", static_cast<double>(s.batches));
    e.Set("failures", static_cast<double>(s.failures));
    e.Set("retried", static_cast<double>(s.retried));
    e.Set("stolen", static_cast<double>(lane.stolen));
    e.Set("busyMs", s.busy_ms);
    e.Set("inFlight", s.in_flight);
    e.Set("queueDepth", static_cast<double>(lane.depth));
    e.Set("latency", LatencyToJs(env, engine_latency_[i]));
    engines.Set(static_cast<uint32_t>(i), e);
  }
  stats.Set("engines", engines);
  stats.Set("queueDepth", static_cast<double>(scheduler_.Depth()));
  stats.Set("inFlight", static_cast<double>(in_flight_));
  stats.Set("completed", static_cast<double>(completed_));
  stats.Set("failed", static_cast<double>(failed_));
  stats.Set("batchingEnabled", scheduler_.batching_enabled());
  stats.Set("batchingDisabledReason", scheduler_.batching_disabled_reason());
  stats.Set("latency", LatencyToJs(env, pool_latency_));
  return stats;
}

}  // namespace torchpool
