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

Napi::Object CudaStatsToJs(Napi::Env env, const CudaEngineStats& c) {
  auto n = [](uint64_t v) { return static_cast<double>(v); };
  Napi::Object out = Napi::Object::New(env);
  out.Set("computeStream", c.compute_stream);
  out.Set("copyStream", c.copy_stream);
  out.Set("pipelineDepth", c.pipeline_depth);
  out.Set("overlapped", n(c.overlapped));
  Napi::Object pinned = Napi::Object::New(env);
  pinned.Set("limitBytes", n(c.pinned_limit));
  pinned.Set("reservedBytes", n(c.pinned_reserved));
  pinned.Set("inUseBytes", n(c.pinned_in_use));
  pinned.Set("copiedBytes", n(c.pinned_bytes));
  pinned.Set("pageableBytes", n(c.pageable_bytes));
  pinned.Set("fallbacks", n(c.pageable_fallbacks));
  out.Set("pinned", pinned);
  Napi::Object graphs = Napi::Object::New(env);
  graphs.Set("captured", n(c.graphs_captured));
  graphs.Set("replays", n(c.graph_replays));
  if (!c.graphs_disabled_reason.empty()) graphs.Set("disabledReason", c.graphs_disabled_reason);
  out.Set("graphs", graphs);
  out.Set("outOfMemory", n(c.out_of_memory));
  Napi::Object memory = Napi::Object::New(env);
  memory.Set("freeBytes", n(c.memory_free));
  memory.Set("totalBytes", n(c.memory_total));
  memory.Set("allocatedBytes", n(c.torch_allocated));
  memory.Set("reservedBytes", n(c.torch_reserved));
  out.Set("memory", memory);
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
    if (s.has_cuda) e.Set("cuda", CudaStatsToJs(env, s.cuda));
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
