#pragma once
// Page-locked host memory for one engine's staging buffers: inputs are copied here from the
// caller's memory once, then to the device asynchronously; outputs come back through it.
//
// Blocks come in power-of-two size classes and are reused. The pool never holds more than its
// limit: when a block cannot be had, Acquire returns an empty block and the caller copies
// through pageable memory instead (counted in stats), so a request never fails for it.

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace torchpool {

struct PinnedBlock {
  void* data = nullptr;
  size_t capacity = 0;
  explicit operator bool() const { return data != nullptr; }
};

struct PinnedPoolStats {
  uint64_t limit;
  uint64_t reserved;
  uint64_t in_use;
  uint64_t fallbacks;
  uint64_t allocations;  // cudaHostAlloc calls: flat once warmup has sized the pool
};

class PinnedPool {
 public:
  explicit PinnedPool(size_t limit_bytes) : limit_(limit_bytes) {}
  ~PinnedPool();
  PinnedPool(const PinnedPool&) = delete;
  PinnedPool& operator=(const PinnedPool&) = delete;

  // Any thread. An empty block when the limit (or cudaHostAlloc) says no.
  PinnedBlock Acquire(size_t bytes);
  void Release(PinnedBlock block);
  PinnedPoolStats Stats() const;
  // Load thread: makes `count` blocks of the size class of `bytes` exist (idle or in use), so
  // that steady state never calls cudaHostAlloc, which takes a driver-wide lock that stalls
  // every GPU's work. False when the limit does not allow them all.
  bool Reserve(size_t bytes, size_t count);

  static size_t SizeClass(size_t bytes);

 private:
  void FreeCachedLocked(size_t needed);  // returns idle blocks to the system until `needed` fits

  const size_t limit_;
  mutable std::mutex mutex_;
  std::map<size_t, std::vector<void*>> idle_;  // size class -> free blocks
  size_t reserved_ = 0;
  size_t in_use_ = 0;
  uint64_t fallbacks_ = 0;
  uint64_t allocations_ = 0;
  std::map<size_t, size_t> blocks_of_class_;  // idle + in use
};

}  // namespace torchpool
