#include "engine/device_query.h"
#include "engine/device_scope.h"

// The CUDA build provides these in engine/cuda/cuda_devices.cc and engine/cuda/device_context.cc.
#ifndef TORCHPOOL_WITH_CUDA

namespace torchpool {

bool CompiledWithCuda() { return false; }

CudaQuery QueryCudaDevices() {
  CudaQuery query;
  query.note = "torchpool was built against a libtorch without CUDA";
  return query;
}

DeviceScope::DeviceScope(const c10::Device&) {}
DeviceScope::~DeviceScope() = default;
void SetThreadDevice(const c10::Device&) {}

}  // namespace torchpool

#endif
