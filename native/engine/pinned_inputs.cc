#include "engine/pinned_inputs.h"

#include <atomic>
#include <map>
#include <mutex>
#include <shared_mutex>

#ifdef TORCHPOOL_WITH_CUDA
#include <cuda_runtime.h>

#include "engine/device_scope.h"
#endif

namespace torchpool {
namespace pinned_inputs {
namespace {

struct Registry {
  std::shared_mutex mutex;
  std::map<uintptr_t, size_t> live;  // start -> bytes
  std::atomic<size_t> count{0};
  std::atomic<uint64_t> bytes{0};
};

// Never destroyed: buffers may be collected during environment teardown, after static
// destructors would have run.
Registry& registry() {
  static Registry* instance = new Registry();
  return *instance;
}

}  // namespace

void* Allocate(size_t bytes, int device, std::string* why) {
#ifdef TORCHPOOL_WITH_CUDA
  void* data = nullptr;
  {
    DeviceScope scope(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device)));
    const cudaError_t status = cudaHostAlloc(&data, bytes == 0 ? 1 : bytes, cudaHostAllocPortable);
    if (status != cudaSuccess) {
      cudaGetLastError();
      *why = std::string("cudaHostAlloc of ") + std::to_string(bytes) + " bytes failed: " + cudaGetErrorString(status);
      return nullptr;
    }
  }
  Registry& r = registry();
  std::unique_lock<std::shared_mutex> lock(r.mutex);
  r.live[reinterpret_cast<uintptr_t>(data)] = bytes;
  r.count.fetch_add(1, std::memory_order_release);
  r.bytes.fetch_add(bytes, std::memory_order_relaxed);
  return data;
#else
  *why = "this build of torchpool has no CUDA";
  return nullptr;
#endif
}

void Free(void* data) {
  Registry& r = registry();
  {
    std::unique_lock<std::shared_mutex> lock(r.mutex);
    auto it = r.live.find(reinterpret_cast<uintptr_t>(data));
    if (it == r.live.end()) return;
    r.bytes.fetch_sub(it->second, std::memory_order_relaxed);
    r.live.erase(it);
    r.count.fetch_sub(1, std::memory_order_release);
  }
#ifdef TORCHPOOL_WITH_CUDA
  if (cudaFreeHost(data) != cudaSuccess) cudaGetLastError();
#endif
}

bool Contains(const void* data, size_t bytes) {
  Registry& r = registry();
  if (r.count.load(std::memory_order_acquire) == 0) return false;
  const uintptr_t start = reinterpret_cast<uintptr_t>(data);
  std::shared_lock<std::shared_mutex> lock(r.mutex);
  auto it = r.live.upper_bound(start);
  if (it == r.live.begin()) return false;
  --it;
  return start + bytes <= it->first + it->second;
}

uint64_t LiveBytes() { return registry().bytes.load(std::memory_order_relaxed); }

}  // namespace pinned_inputs
}  // namespace torchpool
