#include "engine/cuda/cuda_graphs.h"

#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
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

namespace {

// MempoolId_t moved between namespaces over libtorch versions; this is whatever it is here.
using PoolId = decltype(at::cuda::graph_pool_handle());

// The caching allocator routes a capture's allocations to a private pool between capture_begin
// and capture_end, and CUDAGraph releases that pool only for a capture that ended cleanly. When
// the forward throws mid-capture (or the capture was invalidated, say by a host sync), both
// must be undone here, or freed blocks are deferred forever and the allocator's out-of-memory
// retry is skipped on this device. The functions moved between libtorch versions; CMake probes
// which ones this libtorch has (CMakeLists.txt, TORCHPOOL_ALLOC_*). Never throws.
void AbandonCapture(at::cuda::CUDAGraph* graph, c10::DeviceIndex device, PoolId pool,
                    cudaStream_t stream, unsigned long long capture_id) {
  namespace alloc = c10::cuda::CUDACachingAllocator;
  cudaStreamCaptureStatus state = cudaStreamCaptureStatusNone;
  cudaStreamIsCapturing(stream, &state);
  cudaGetLastError();
  const bool valid = state == cudaStreamCaptureStatusActive;
  try {
    // A valid capture (the forward raised a C++ error) ends normally, and destroying the graph
    // releases its pool. An invalidated one fails inside, at cudaStreamEndCapture; libtorch
    // 1.13 and 2.0 end (part of) the allocator's routing before that point.
    graph->capture_end();
    return;
  } catch (...) {
    cudaGetLastError();
  }
  // If a valid capture failed later than cudaStreamEndCapture (instantiation), the graph's
  // destructor releases the pool; releasing it here too would assert in that destructor.
  if (valid) return;
  cudaStreamIsCapturing(stream, &state);
  if (state != cudaStreamCaptureStatusNone) {
    cudaGraph_t partial = nullptr;
    cudaStreamEndCapture(stream, &partial);
    if (partial != nullptr) cudaGraphDestroy(partial);
  }
  cudaGetLastError();
  try {
#if defined(TORCHPOOL_ALLOC_END_ALLOCATE_TO_POOL)
    // (The newest libtorch also routes its pinned host allocator during a capture; torchpool
    // stages through pinned memory of its own, so nothing of ours lands there.)
    alloc::endAllocateToPool(device, pool);
    alloc::releasePool(device, pool);
#elif defined(TORCHPOOL_ALLOC_END_ALLOCATE_STREAM_TO_POOL)
    alloc::endAllocateStreamToPool(device, stream);
    alloc::releasePool(device, pool);
#elif defined(TORCHPOOL_ALLOC_NOTIFY_CAPTURE_ENDED)
    alloc::notifyCaptureEnded(device, capture_id);
    alloc::notifyCaptureDestroy(device, pool);
#elif defined(TORCHPOOL_ALLOC_NOTIFY_CAPTURE_END)
    // capture_end() already called notifyCaptureEnd before it failed.
    alloc::notifyCaptureDestroy(device, pool);
#endif
  } catch (...) {
    // Nothing more can be done; graphs are off for this engine from now on anyway.
  }
  cudaGetLastError();
  (void)device;
  (void)pool;
  (void)capture_id;
}

}  // namespace

bool GraphCache::Capture(Entry& entry, const std::vector<at::Tensor>& inputs,
                         const ForwardFn& forward) {
  auto graph = std::make_unique<at::cuda::CUDAGraph>();
  std::vector<at::Tensor> statics;
  std::vector<c10::IValue> args;
  for (const at::Tensor& t : inputs) {
    statics.push_back(t.clone());
    args.emplace_back(statics.back());
  }
  // Kept here, not read back from the graph, so that a failed capture can be cleaned up. One
  // pool for every graph of the engine (see the header).
  const c10::DeviceIndex device = c10::cuda::current_device();
  if (!have_pool_) {
    const PoolId handle = at::cuda::graph_pool_handle();
    pool_ = {handle.first, handle.second};
    have_pool_ = true;
  }
  const PoolId pool{pool_.first, pool_.second};
  const auto reserved = [device] {
    return static_cast<int64_t>(c10::cuda::CUDACachingAllocator::getDeviceStats(device).reserved_bytes[0].current);
  };
  const int64_t reserved_before = reserved();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();
  unsigned long long capture_id = 0;
  bool began = false;
  try {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
    // Thread-local: other engines (other threads) keep running while this one captures.
    graph->capture_begin(pool, cudaStreamCaptureModeThreadLocal);
#else
    graph->capture_begin(pool);
#endif
    began = true;
    cudaStreamCaptureStatus state = cudaStreamCaptureStatusNone;
    if (cudaStreamGetCaptureInfo(stream, &state, &capture_id) != cudaSuccess) cudaGetLastError();
    c10::IValue output = forward(std::move(args));
    graph->capture_end();
    const int64_t grown = reserved() - reserved_before;
    if (grown > 0) pool_bytes_.fetch_add(static_cast<uint64_t>(grown), std::memory_order_relaxed);
    entry.graph = std::move(graph);
    entry.inputs = std::move(statics);
    entry.output = std::move(output);
    ++captured_;
    return true;
  } catch (...) {
    Status status = StatusFromCurrentException(ErrorCode::kCuda);
    if (began) AbandonCapture(graph.get(), device, pool, stream, capture_id);
    graph.reset();
    cudaGetLastError();
    std::string message = status.message();
    message = message.substr(0, message.find('\n'));
    disabled_reason_ = "capture failed (" + message + "); running eagerly from now on";
    return false;
  }
}

void GraphCache::CountEager(const char* why) {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  ++eager_fallbacks_[why];
}

void GraphCache::ResetCounts() {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  replays_by_bucket_.clear();
  eager_fallbacks_.clear();
}

GraphCache::Stats GraphCache::BucketStats() const {
  Stats stats;
  stats.pool_bytes = pool_bytes_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats.replays_by_bucket = replays_by_bucket_;
  stats.eager_fallbacks = eager_fallbacks_;
  return stats;
}

bool GraphCache::Run(const std::string& key, const std::vector<at::Tensor>& inputs,
                     const ForwardFn& forward, c10::IValue* output, const char** why_eager) {
  if (disabled()) {
    *why_eager = "graphs are off for this engine after a failed capture";
    return false;
  }
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxTrackedShapes) {
      *why_eager = "too many distinct shapes";
      return false;
    }
    it = entries_.emplace(key, Entry{}).first;
  }
  Entry& entry = it->second;
  if (!entry.graph) {
    if (++entry.eager_runs <= kEagerRunsBeforeCapture) {
      *why_eager = "shape not captured yet (captured on its third run; warm it up to capture at load)";
      return false;
    }
    if (captured() >= static_cast<uint64_t>(max_graphs_)) {
      *why_eager = "maxCudaGraphs graphs captured already";
      return false;
    }
    if (!Capture(entry, inputs, forward)) {
      *why_eager = "graphs are off for this engine after a failed capture";
      return false;
    }
    // Capture records the work without running it: the replay below computes this call.
  } else {
    for (size_t i = 0; i < inputs.size(); ++i) entry.inputs[i].copy_(inputs[i], /*non_blocking=*/true);
  }
  entry.graph->replay();
  ++replays_;
  if (!buckets_.empty() && !inputs.empty() && inputs.front().dim() > 0) {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    ++replays_by_bucket_[inputs.front().size(0)];
  }
  *output = entry.output;
  return true;
}

}  // namespace torchpool
