#pragma once
// CUDA graphs for one engine (cudaGraphs: true). A forward on a static shape is captured once
// (after two eager runs, so cuDNN and TorchScript have settled) and replayed from then on: one
// launch instead of one per kernel, which is what small batches are bound by. Shapes not yet
// captured, or past the per-engine limit, run eagerly. A capture that fails (a model that syncs
// with the host, say) turns graphs off for the engine with the reason in stats.

#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/script.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace torchpool {

class GraphCache {
 public:
  using ForwardFn = std::function<c10::IValue(std::vector<c10::IValue>)>;

  explicit GraphCache(int max_graphs) : max_graphs_(max_graphs) {}

  // The key of a call whose arguments are all device tensors: dtypes, sizes and layout.
  static std::string Key(const std::vector<at::Tensor>& inputs);

  // On the engine thread, with `stream` current. True with `output` set when the call ran as a
  // graph replay (or capture); false when the caller must run it eagerly.
  bool Run(const std::string& key, const std::vector<at::Tensor>& inputs, const ForwardFn& forward,
           c10::IValue* output);

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
  std::unordered_map<std::string, Entry> entries_;
  std::string disabled_reason_;
  std::atomic<uint64_t> captured_{0};
  std::atomic<uint64_t> replays_{0};
};

}  // namespace torchpool
