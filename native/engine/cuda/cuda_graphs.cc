#include "engine/cuda/cuda_graphs.h"

#include <cuda_runtime.h>
#include <torch/version.h>

#include "engine/status.h"

namespace torchpool {
namespace {

constexpr int kEagerRunsBeforeCapture = 2;
// Entries for shapes seen but never captured are capped too, so a stream of odd shapes cannot
// grow the table without bound.
constexpr size_t kMaxTrackedShapes = 1024;

}  // namespace

std::string GraphCache::Key(const std::vector<at::Tensor>& inputs) {
  std::string key;
  for (const at::Tensor& t : inputs) {
    key += c10::toString(t.scalar_type());
    for (int64_t d : t.sizes()) key += "," + std::to_string(d);
    key += t.is_contiguous() ? ";" : (t.is_contiguous(at::MemoryFormat::ChannelsLast) ? "cl;" : "s;");
  }
  return key;
}

bool GraphCache::Capture(Entry& entry, const std::vector<at::Tensor>& inputs,
                         const ForwardFn& forward) {
  auto graph = std::make_unique<at::cuda::CUDAGraph>();
  std::vector<at::Tensor> statics;
  std::vector<c10::IValue> args;
  for (const at::Tensor& t : inputs) {
    statics.push_back(t.clone());
    args.emplace_back(statics.back());
  }
  bool began = false;
  try {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
    // Thread-local: other engines (other threads) keep running while this one captures.
    graph->capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
#else
    graph->capture_begin();
#endif
    began = true;
    c10::IValue output = forward(std::move(args));
    graph->capture_end();
    entry.graph = std::move(graph);
    entry.inputs = std::move(statics);
    entry.output = std::move(output);
    ++captured_;
    return true;
  } catch (...) {
    Status status = StatusFromCurrentException(ErrorCode::kCuda);
    if (began) {
      // End the broken capture on the stream so that it runs eagerly again.
      cudaGraph_t partial = nullptr;
      cudaStreamEndCapture(c10::cuda::getCurrentCUDAStream().stream(), &partial);
      if (partial) cudaGraphDestroy(partial);
    }
    cudaGetLastError();
    std::string message = status.message();
    message = message.substr(0, message.find('\n'));
    disabled_reason_ = "capture failed (" + message + "); running eagerly from now on";
    return false;
  }
}

bool GraphCache::Run(const std::string& key, const std::vector<at::Tensor>& inputs,
                     const ForwardFn& forward, c10::IValue* output) {
  if (disabled()) return false;
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxTrackedShapes) return false;
    it = entries_.emplace(key, Entry{}).first;
  }
  Entry& entry = it->second;
  if (!entry.graph) {
    if (++entry.eager_runs <= kEagerRunsBeforeCapture) return false;
    if (captured() >= static_cast<uint64_t>(max_graphs_)) return false;
    if (!Capture(entry, inputs, forward)) return false;
    // Capture records the work without running it: the replay below computes this call.
  } else {
    for (size_t i = 0; i < inputs.size(); ++i) entry.inputs[i].copy_(inputs[i], /*non_blocking=*/true);
  }
  entry.graph->replay();
  ++replays_;
  *output = entry.output;
  return true;
}

}  // namespace torchpool
