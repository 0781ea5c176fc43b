// Compiled only when libtorch has CUDA (TORCHPOOL_WITH_CUDA); see CMakeLists.txt.
#include <cuda_runtime.h>

#include "engine/device_query.h"

namespace torchpool {

bool CompiledWithCuda() { return true; }

CudaQuery QueryCudaDevices() {
  CudaQuery query;
  cudaRuntimeGetVersion(&query.runtime_version);
  cudaDriverGetVersion(&query.driver_version);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    // No driver or no GPU: report it, do not fail. Clear the sticky error for later calls.
    query.note = std::string("no usable CUDA device: ") + cudaGetErrorString(err);
    cudaGetLastError();
    return query;
  }
  int previous = 0;
  cudaGetDevice(&previous);
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, i) != cudaSuccess) continue;
    CudaDeviceInfo info{i, props.name, props.totalGlobalMem, 0, props.major, props.minor,
                        props.multiProcessorCount};
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
      info.free_memory = free_bytes;
    }
    query.devices.push_back(info);
  }
  cudaSetDevice(previous);
  cudaGetLastError();
  return query;
}

}  // namespace torchpool
