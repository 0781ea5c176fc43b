#pragma once
// CUDA graphs for one engine (cudaGraphs: true). A forward on a static shape is captured once
// (after two eager runs, so cuDNN and TorchScript have settled) and replayed from then on: one
// launch instead of one per kernel, which is what small batches are bound by. Shapes not yet
// captured, or past the per-engine limit, run eagerly. A capture that fails (a model that syncs
// with the host, say) turns graphs off for the engine with the reason in stats.
//
// Batch-size buckets (batchBuckets, engine/bucket_padding.h) make graphs survive dynamic
// batching: the engine pads a merged batch up to the nearest bucket, so that only the buckets'
// shapes are ever captured (at warmup). All graphs of an engine share one private memory pool: they replay one at a time on
// the engine's compute stream, so their intermediate buffers can be the same memory.

#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/script.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <string>
#include <unordered_map>
#include <vector>

namespace torchpool {

class GraphCache {
 public:
  using ForwardFn = std::function<c10::IValue(std::vector<c10::IValue>)>;

  // `buckets`: replays are counted per bucket (rows) when there are any.
  GraphCache(int max_graphs, std::vector<int64_t> buckets) : max_graphs_(max_graphs), buckets_(std::move(buckets)) {}

  // The key of a call whose arguments are all device tensors: dtypes, sizes and layout.
  static std::string Key(const std::vector<at::Tensor>& inputs);

  // On the engine thread, with `stream` current. True with `output` set when the call ran as a
  // graph replay (or capture); false (and why) when the caller must run it eagerly.
  bool Run(const std::string& key, const std::vector<at::Tensor>& inputs, const ForwardFn& forward,
           c10::IValue* output, const char** why_eager);

  // Counted by the engine: forwards that ran eagerly, by reason.
  void CountEager(const char* why);
  // After warmup: its eager runs before each capture and its replays are not the users'
  // (captured() and replays() keep counting from the start).
  void ResetCounts();

  struct Stats {
    uint64_t pool_bytes = 0;  // device memory the graphs' pool took, measured around captures
    std::map<int64_t, uint64_t> replays_by_bucket;
    std::map<std::string, uint64_t> eager_fallbacks;
  };
  Stats BucketStats() const;  // any thread

  bool disabled() const { return !disabled_reason_.empty(); }
  const std::string& disabled_reason() const { return disabled_reason_; }
  // Any thread (stats).
  uint64_t captured() const { return captured_.load(std::memory_order_relaxed); }
  uint64_t replays() const { return replays_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    int eager_runs = 0;
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    std::vector<at::Tensor> inputs;  // static: each replay copies the call's inputs in here
    c10::IValue output;              // static: rewritten by each replay
  };

  bool Capture(Entry& entry, const std::vector<at::Tensor>& inputs, const ForwardFn& forward);

  const int max_graphs_;
  const std::vector<int64_t> buckets_;
  std::unordered_map<std::string, Entry> entries_;
  bool have_pool_ = false;
  std::pair<unsigned long long, unsigned long long> pool_{0, 0};  // the engine's graphs' memory pool
  std::atomic<uint64_t> pool_bytes_{0};
  mutable std::mutex stats_mutex_;
  std::map<int64_t, uint64_t> replays_by_bucket_;
  std::map<std::string, uint64_t> eager_fallbacks_;
  std::string disabled_reason_;
  std::atomic<uint64_t> captured_{0};
  std::atomic<uint64_t> replays_{0};
};

}  // namespace torchpool
