// PoolWrap::Stats: the counters behind pool.stats(). Engine counters are atomics written by the
// engine threads; latency windows live on the JS thread; lanes are read under the scheduler lock.

#include "binding/pool_workers.h"
#include "binding/pool_wrap.h"

#include <map>

namespace torchpool {
namespace {

Napi::Object PercentilesToJs(Napi::Env env, const Percentiles& p) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("p50", p.p50);
  out.Set("p95", p.p95);
  out.Set("p99", p.p99);
  out.Set("count", static_cast<double>(p.count));
  return out;
}

// engine -1: the pool's latencies.
Napi::Object LatencyToJs(Napi::Env env, const PoolCore& core, int engine) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("queueMs", PercentilesToJs(env, core.SummarizeLatency(engine, 0)));
  out.Set("computeMs", PercentilesToJs(env, core.SummarizeLatency(engine, 1)));
  out.Set("totalMs", PercentilesToJs(env, core.SummarizeLatency(engine, 2)));
  return out;
}

Napi::Array ThreadsToJs(Napi::Env env, const std::vector<ClientStats>& clients) {
  auto n = [](uint64_t v) { return static_cast<double>(v); };
  Napi::Array threads = Napi::Array::New(env, clients.size());
  for (size_t i = 0; i < clients.size(); ++i) {
    const ClientStats& c = clients[i];
    Napi::Object t = Napi::Object::New(env);
    t.Set("threadId", n(c.thread_id));
    t.Set("owner", c.owner);
    t.Set("submitted", n(c.submitted));
    t.Set("completed", n(c.completed));
    t.Set("failed", n(c.failed));
    t.Set("inFlight", n(c.live));
    threads.Set(static_cast<uint32_t>(i), t);
  }
  return threads;
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
  pinned.Set("directBytes", n(c.direct_bytes));
  pinned.Set("fallbacks", n(c.pageable_fallbacks));
  pinned.Set("allocations", n(c.pinned_allocations));
  out.Set("pinned", pinned);
  Napi::Object graphs = Napi::Object::New(env);
  graphs.Set("captured", n(c.graphs_captured));
  graphs.Set("replays", n(c.graph_replays));
  if (!c.graphs_disabled_reason.empty()) graphs.Set("disabledReason", c.graphs_disabled_reason);
  Napi::Array buckets = Napi::Array::New(env, c.graph_buckets.size());
  for (size_t i = 0; i < c.graph_buckets.size(); ++i) buckets.Set(static_cast<uint32_t>(i), n(static_cast<uint64_t>(c.graph_buckets[i])));
  graphs.Set("buckets", buckets);
  Napi::Object by_bucket = Napi::Object::New(env);
  for (const auto& [bucket, count] : c.graph_replays_by_bucket) by_bucket.Set(std::to_string(bucket), n(count));
  graphs.Set("replaysByBucket", by_bucket);
  graphs.Set("paddedRows", n(c.graph_padded_rows));
  Napi::Object eager = Napi::Object::New(env);
  for (const auto& [reason, count] : c.graph_eager_fallbacks) eager.Set(reason, n(count));
  graphs.Set("eagerFallbacks", eager);
  graphs.Set("poolBytes", n(c.graph_pool_bytes));
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

Napi::Object BucketsToJs(Napi::Env env, const BucketPadding::Stats& b) {
  Napi::Object out = Napi::Object::New(env);
  Napi::Array sizes = Napi::Array::New(env, b.buckets.size());
  for (size_t i = 0; i < b.buckets.size(); ++i) sizes.Set(static_cast<uint32_t>(i), static_cast<double>(b.buckets[i]));
  out.Set("sizes", sizes);
  out.Set("paddedBatches", static_cast<double>(b.padded_batches));
  out.Set("paddedRows", static_cast<double>(b.padded_rows));
  out.Set("oversized", static_cast<double>(b.oversized));
  if (!b.off_reason.empty()) out.Set("offReason", b.off_reason);
  return out;
}

Napi::Object FirstShapesToJs(Napi::Env env, const FirstShapes::Stats& f) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("forwards", static_cast<double>(f.forwards));
  out.Set("totalMs", f.total_ms);
  out.Set("maxMs", f.max_ms);
  Napi::Array recent = Napi::Array::New(env, f.recent.size());
  for (size_t i = 0; i < f.recent.size(); ++i) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("shape", f.recent[i].first);
    entry.Set("ms", f.recent[i].second);
    recent.Set(static_cast<uint32_t>(i), entry);
  }
  out.Set("recent", recent);
  out.Set("known", static_cast<double>(f.known));
  Napi::Object warmup = Napi::Object::New(env);
  warmup.Set("ms", f.warmup_ms);
  Napi::Array shapes = Napi::Array::New(env, f.warmed.size());
  for (size_t i = 0; i < f.warmed.size(); ++i) shapes.Set(static_cast<uint32_t>(i), f.warmed[i]);
  warmup.Set("shapes", shapes);
  out.Set("warmup", warmup);
  return out;
}

}  // namespace

Napi::Value PoolWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object stats = Napi::Object::New(env);
  if (!core_) ThrowError(env, ErrorCode::kClosed, "the pool has no engines (it failed to load)");
  const PoolCore& core = *core_;
  // After close() the replicas are gone; their last counters stay readable.
  std::vector<EngineStats> all = core.EngineStatsSnapshot();
  Napi::Array engines = Napi::Array::New(env, all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const EngineStats& s = all[i];
    LaneStats lane = core.scheduler().Lane(static_cast<int>(i));
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
    e.Set("heldBatches", static_cast<double>(lane.held));
    e.Set("busyMs", s.busy_ms);
    e.Set("inFlight", s.in_flight);
    e.Set("queueDepth", static_cast<double>(lane.depth));
    e.Set("latency", LatencyToJs(env, core, static_cast<int>(i)));
    e.Set("buckets", BucketsToJs(env, s.buckets));
    e.Set("optimizedExecution", s.optimized_execution);
    uint64_t weight_bytes = 0;
    for (const WeightBlock& block : s.weights) weight_bytes += block.bytes;
    e.Set("weightBytes", static_cast<double>(weight_bytes));
    Napi::Object lengths = Napi::Object::New(env);
    lengths.Set("requests", static_cast<double>(s.padded_requests));
    lengths.Set("positions", static_cast<double>(s.own_positions));
    lengths.Set("paddedPositions", static_cast<double>(s.padded_positions));
    e.Set("lengthPadding", lengths);
    e.Set("firstShapes", FirstShapesToJs(env, s.first_shapes));
    if (s.has_cuda) e.Set("cuda", CudaStatsToJs(env, s.cuda));
    engines.Set(static_cast<uint32_t>(i), e);
  }
  // Weight memory per device: blocks that engines share count once.
  std::map<std::string, std::map<const void*, size_t>> blocks_by_device;
  for (const EngineStats& s : all) {
    for (const WeightBlock& block : s.weights) blocks_by_device[s.device][block.data] = block.bytes;
  }
  Napi::Object weights = Napi::Object::New(env);
  for (const auto& [device, blocks] : blocks_by_device) {
    uint64_t bytes = 0;
    for (const auto& [data, size] : blocks) bytes += size;
    weights.Set(device, static_cast<double>(bytes));
  }
  stats.Set("weightBytesByDevice", weights);
  const ClientStats totals = core.Totals();
  stats.Set("engines", engines);
  stats.Set("queueDepth", static_cast<double>(core.scheduler().Depth()));
  stats.Set("inFlight", static_cast<double>(totals.live));
  stats.Set("completed", static_cast<double>(totals.completed));
  stats.Set("failed", static_cast<double>(totals.failed));
  stats.Set("batchingEnabled", core.scheduler().batching_enabled());
  stats.Set("batchingDisabledReason", core.scheduler().batching_disabled_reason());
  Napi::Object latency = LatencyToJs(env, core, -1);
  Napi::Object stages = Napi::Object::New(env);
  for (int i = 0; i < PoolCore::kStages; ++i) stages.Set(PoolCore::kStageNames[i], PercentilesToJs(env, core.SummarizeStage(i)));
  latency.Set("stages", stages);
  stats.Set("latency", latency);
  stats.Set("threads", ThreadsToJs(env, core.ClientStatsSnapshot()));
  stats.Set("uptimeMs", core.uptime_ms());
  stats.Set("closed", core.closed());
  const ProcessSettingsValues settings = ProcessSettingsSnapshot();
  Napi::Object process = Napi::Object::New(env);
  auto tri = [&env](int v) { return v < 0 ? env.Null() : Napi::Boolean::New(env, v == 1).As<Napi::Value>(); };
  process.Set("cudnnBenchmark", tri(settings.cudnn_benchmark));
  process.Set("allowTF32", tri(settings.allow_tf32));
  process.Set("profilingExecutor", tri(settings.profiling_executor));
  process.Set("tensorExprFuser", tri(settings.tensor_expr_fuser));
  process.Set("quantizedEngine", settings.quantized_engine.empty() ? env.Null() : Napi::String::New(env, settings.quantized_engine).As<Napi::Value>());
  stats.Set("processSettings", process);
  return stats;
}

}  // namespace torchpool
