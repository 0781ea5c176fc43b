// CudaEngine::Stats (JS thread): what a CUDA engine adds to stats().engines[i].cuda. Reads
// counters and the device's memory without switching the calling thread's device.

#include <c10/cuda/CUDACachingAllocator.h>

#include <cstdio>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/device_context.h"

namespace torchpool {
namespace {

std::string StreamName(uint64_t handle) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(handle));
  return text;
}

uint64_t StreamHandle(const c10::cuda::CUDAStream& stream) {
  return reinterpret_cast<uint64_t>(stream.stream());
}

}  // namespace

EngineStats CudaEngine::Stats() const {
  EngineStats stats = Engine::Stats();
  stats.has_cuda = true;
  CudaEngineStats& cuda = stats.cuda;
  cuda.compute_stream = StreamName(StreamHandle(compute_stream_));
  cuda.copy_stream = StreamName(StreamHandle(copy_stream_));
  cuda.pipeline_depth = static_cast<int>(slots_.size());
  PinnedPoolStats pinned = pinned_.Stats();
  cuda.pinned_limit = pinned.limit;
  cuda.pinned_reserved = pinned.reserved;
  cuda.pinned_in_use = pinned.in_use;
  cuda.pageable_fallbacks = pinned.fallbacks;
  cuda.pinned_allocations = pinned.allocations;
  cuda.pinned_bytes = staging_.pinned_bytes();
  cuda.pageable_bytes = staging_.pageable_bytes();
  cuda.direct_bytes = staging_.direct_bytes();
  cuda.overlapped = overlapped_.load(std::memory_order_relaxed);
  cuda.out_of_memory = out_of_memory_.load(std::memory_order_relaxed);
  cuda.graphs_captured = graphs_.captured();
  cuda.graph_replays = graphs_.replays();
  const GraphCache::Stats buckets = graphs_.BucketStats();
  // Buckets pad eager batches too (stats.buckets); graphs report them as they always did.
  cuda.graph_buckets = stats.buckets.buckets;
  cuda.graph_padded_rows = stats.buckets.padded_rows;
  cuda.graph_pool_bytes = buckets.pool_bytes;
  cuda.graph_replays_by_bucket = buckets.replays_by_bucket;
  cuda.graph_eager_fallbacks = buckets.eager_fallbacks;
  // The device as a whole (other engines and processes included), read without switching this
  // (JS) thread's device, and what libtorch's caching allocator holds on it.
  uint64_t free_bytes = 0, total_bytes = 0;
  if (DeviceMemory(device_index_, &free_bytes, &total_bytes, nullptr)) {
    cuda.memory_free = free_bytes;
    cuda.memory_total = total_bytes;
  }
  auto allocator = c10::cuda::CUDACachingAllocator::getDeviceStats(device_index_);
  cuda.torch_allocated = static_cast<uint64_t>(allocator.allocated_bytes[0].current);
  cuda.torch_reserved = static_cast<uint64_t>(allocator.reserved_bytes[0].current);
  {
    std::lock_guard<std::mutex> lock(graphs_reason_mutex_);
    cuda.graphs_disabled_reason = graphs_reason_;
  }
  return stats;
}

}  // namespace torchpool
