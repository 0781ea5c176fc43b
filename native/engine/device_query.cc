#include "engine/device_query.h"

// The CUDA build provides these in engine/cuda/cuda_devices.cc.
#ifndef TORCHPOOL_WITH_CUDA

namespace torchpool {

bool CompiledWithCuda() { return false; }

CudaQuery QueryCudaDevices() {
  CudaQuery query;
  query.note = "torchpool was built against a libtorch without CUDA";
  return query;
}

}  // namespace torchpool

#endif
