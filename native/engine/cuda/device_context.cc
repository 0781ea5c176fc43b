// Compiled only when libtorch has CUDA (TORCHPOOL_WITH_CUDA); see CMakeLists.txt.
#include "engine/cuda/device_context.h"

#include <ATen/detail/CUDAHooksInterface.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <mutex>

#include "engine/device_scope.h"

namespace torchpool {
namespace {

// The few NVML entry points used, declared by hand: NVML ships with the driver, not with the
// CUDA toolkit's headers, and is loaded with dlopen so that the addon does not depend on it.
using NvmlReturn = int;  // 0: NVML_SUCCESS
using NvmlDevice = struct NvmlDeviceOpaque*;
struct NvmlMemory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

struct Nvml {
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*by_bus_id)(const char*, NvmlDevice*) = nullptr;
  NvmlReturn (*memory)(NvmlDevice, NvmlMemory*) = nullptr;
  bool ready = false;
  std::string why;
};

const Nvml& LoadNvml() {
  static Nvml* nvml = [] {
    auto* n = new Nvml();  // never unloaded: other threads may be inside it at exit
    void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      n->why = "NVML (libnvidia-ml.so.1) is not available";
      return n;
    }
    n->init = reinterpret_cast<NvmlReturn (*)()>(dlsym(lib, "nvmlInit_v2"));
    n->by_bus_id = reinterpret_cast<NvmlReturn (*)(const char*, NvmlDevice*)>(dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2"));
    n->memory = reinterpret_cast<NvmlReturn (*)(NvmlDevice, NvmlMemory*)>(dlsym(lib, "nvmlDeviceGetMemoryInfo"));
    if (n->init == nullptr || n->by_bus_id == nullptr || n->memory == nullptr) {
      n->why = "NVML lacks nvmlInit_v2 / nvmlDeviceGetHandleByPciBusId_v2 / nvmlDeviceGetMemoryInfo";
    } else if (n->init() != 0) {
      n->why = "nvmlInit_v2 failed";
    } else {
      n->ready = true;
    }
    return n;
  }();
  return *nvml;
}

}  // namespace

bool HasPrimaryContext(int device) {
  try {
    return at::detail::getCUDAHooks().hasPrimaryContext(device);
  } catch (...) {
    return false;
  }
}

bool DeviceMemory(int device, uint64_t* free_bytes, uint64_t* total_bytes, std::string* why) {
  const Nvml& nvml = LoadNvml();
  if (nvml.ready) {
    // NVML numbers devices its own way (it ignores CUDA_VISIBLE_DEVICES): match by PCI bus id,
    // which the runtime gives without a context.
    char bus_id[32] = {0};
    NvmlDevice handle = nullptr;
    NvmlMemory memory{};
    if (cudaDeviceGetPCIBusId(bus_id, sizeof bus_id, device) == cudaSuccess &&
        nvml.by_bus_id(bus_id, &handle) == 0 && nvml.memory(handle, &memory) == 0) {
      *free_bytes = memory.free;
      *total_bytes = memory.total;
      return true;
    }
    cudaGetLastError();
  }
  if (HasPrimaryContext(device)) {
    DeviceScope scope(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device)));
    size_t free_now = 0, total = 0;
    if (cudaMemGetInfo(&free_now, &total) == cudaSuccess) {
      *free_bytes = free_now;
      *total_bytes = total;
      return true;
    }
    cudaGetLastError();
  }
  if (why != nullptr) *why = nvml.ready ? "NVML could not read this device" : nvml.why;
  return false;
}

DeviceScope::DeviceScope(const c10::Device& device) {
  if (!device.is_cuda()) return;
  int current = -1;
  if (cudaGetDevice(&current) != cudaSuccess) {
    cudaGetLastError();
    current = -1;
  }
  const int target = device.index() < 0 ? 0 : device.index();
  if (current == target) return;
  if (cudaSetDevice(target) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  // Switch back on exit only to a device whose context exists already.
  if (current >= 0 && HasPrimaryContext(current)) previous_ = current;
}

DeviceScope::~DeviceScope() {
  if (previous_ >= 0 && cudaSetDevice(previous_) != cudaSuccess) cudaGetLastError();
}

void SetThreadDevice(const c10::Device& device) {
  if (!device.is_cuda()) return;
  if (cudaSetDevice(device.index() < 0 ? 0 : device.index()) != cudaSuccess) cudaGetLastError();
}

}  // namespace torchpool
