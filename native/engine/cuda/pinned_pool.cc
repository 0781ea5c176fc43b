#include "engine/cuda/pinned_pool.h"

#include <cuda_runtime.h>

namespace torchpool {

namespace {
constexpr size_t kSmallestClass = 4096;
}

PinnedPool::~PinnedPool() {
  // Blocks in use belong to tickets the engine finished before it was destroyed. Errors are
  // ignored: at process exit the CUDA runtime may already be gone.
  for (auto& [size, blocks] : idle_) {
    for (void* block : blocks) cudaFreeHost(block);
  }
  cudaGetLastError();
}

size_t PinnedPool::SizeClass(size_t bytes) {
  size_t size = kSmallestClass;
  while (size < bytes) size <<= 1;
  return size;
}

void PinnedPool::FreeCachedLocked(size_t needed) {
  for (auto it = idle_.begin(); it != idle_.end() && reserved_ + needed > limit_;) {
    while (!it->second.empty() && reserved_ + needed > limit_) {
      cudaFreeHost(it->second.back());
      it->second.pop_back();
      reserved_ -= it->first;
      --blocks_of_class_[it->first];
    }
    it = it->second.empty() ? idle_.erase(it) : std::next(it);
  }
}

PinnedBlock PinnedPool::Acquire(size_t bytes) {
  const size_t size = SizeClass(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = idle_.find(size);
  if (it != idle_.end() && !it->second.empty()) {
    void* data = it->second.back();
    it->second.pop_back();
    in_use_ += size;
    return PinnedBlock{data, size};
  }
  if (size > limit_ || in_use_ + size > limit_) {
    ++fallbacks_;
    return {};
  }
  FreeCachedLocked(size);
  void* data = nullptr;
  // Portable: any device may copy from it (engines of several GPUs never share a pool, but a
  // block must not depend on which device was current when it was made).
  if (cudaHostAlloc(&data, size, cudaHostAllocPortable) != cudaSuccess) {
    cudaGetLastError();
    ++fallbacks_;
    return {};
  }
  reserved_ += size;
  in_use_ += size;
  ++allocations_;
  ++blocks_of_class_[size];
  return PinnedBlock{data, size};
}

bool PinnedPool::Reserve(size_t bytes, size_t count) {
  const size_t size = SizeClass(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  while (blocks_of_class_[size] < count) {
    if (reserved_ + size > limit_) return false;  // reserving never evicts other classes
    void* data = nullptr;
    if (cudaHostAlloc(&data, size, cudaHostAllocPortable) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    reserved_ += size;
    ++allocations_;
    ++blocks_of_class_[size];
    idle_[size].push_back(data);
  }
  return true;
}

void PinnedPool::Release(PinnedBlock block) {
  if (!block) return;
  std::lock_guard<std::mutex> lock(mutex_);
  in_use_ -= block.capacity;
  idle_[block.capacity].push_back(block.data);
}

PinnedPoolStats PinnedPool::Stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return PinnedPoolStats{limit_, reserved_, in_use_, fallbacks_, allocations_};
}

}  // namespace torchpool
