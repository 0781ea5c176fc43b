#pragma once
// Host <-> device copies of one CUDA engine, through its pinned pool.
//
// In: the caller's rows (several requests' rows for a merged batch) are copied once into one
// pinned block, then to the device with cudaMemcpyAsync on the engine's copy stream. Out: the
// forward's outputs are copied asynchronously into pinned blocks on the compute stream; once the
// engine's event says they arrived, they are copied into ordinary host tensors that JavaScript
// can own, and the blocks go back to the pool. When the pool has no block, the copy goes through
// pageable memory instead (synchronous for the engine thread) and is counted. Inputs that live in
// page-locked memory from pool.allocInput skip the pinned block: the device copies from them.

#include <ATen/ATen.h>
#include <cuda_runtime.h>

#include <atomic>
#include <unordered_set>
#include <vector>

#include "engine/cuda/pinned_pool.h"

namespace torchpool {

// The pinned blocks one pipeline slot holds until its copies completed.
struct StagedBuffers {
  std::vector<PinnedBlock> blocks;
  std::unordered_set<const void*> outputs;  // host outputs that live in a pinned block
};

class Staging {
 public:
  Staging(PinnedPool* pool, c10::Device device) : pool_(pool), device_(device) {}

  // A device tensor holding `parts` concatenated along dim 0 (one part: that tensor). Allocated
  // while `stream` is current, written by a copy queued on it. With `padded_rows` larger than
  // the parts' rows, it has that many rows, the extra ones zero (a CUDA graph bucket).
  at::Tensor ToDevice(const std::vector<at::Tensor>& parts, cudaStream_t stream,
                      StagedBuffers* buffers, int64_t padded_rows = 0);
  // A host tensor that a copy queued on `stream` fills with `tensor` (a device tensor).
  at::Tensor ToHost(const at::Tensor& tensor, cudaStream_t stream, StagedBuffers* buffers);
  // After the copies completed: `host` in memory of its own (pinned contents copied out).
  static at::Tensor Detach(const at::Tensor& host, const StagedBuffers& buffers);
  void Release(StagedBuffers* buffers);

  uint64_t pinned_bytes() const { return pinned_bytes_.load(std::memory_order_relaxed); }
  uint64_t pageable_bytes() const { return pageable_bytes_.load(std::memory_order_relaxed); }
  uint64_t direct_bytes() const { return direct_bytes_.load(std::memory_order_relaxed); }

 private:
  PinnedPool* pool_;
  c10::Device device_;
  std::atomic<uint64_t> pinned_bytes_{0};
  std::atomic<uint64_t> pageable_bytes_{0};
  std::atomic<uint64_t> direct_bytes_{0};
};

}  // namespace torchpool
