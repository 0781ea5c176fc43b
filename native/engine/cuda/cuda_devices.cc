// Compiled only when libtorch has CUDA (TORCHPOOL_WITH_CUDA); see CMakeLists.txt.
#include <cuda_runtime.h>

#include "engine/cuda/device_context.h"
#include "engine/device_query.h"

namespace torchpool {

bool CompiledWithCuda() { return true; }

CudaQuery QueryCudaDevices() {
  // Properties and counts come from the runtime, which creates no context; memory from NVML.
  // Nothing here calls cudaSetDevice: listing devices must leave every GPU without a context.
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
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    CudaDeviceInfo info{i, props.name, props.totalGlobalMem, 0, props.major, props.minor,
                        props.multiProcessorCount};
    uint64_t free_bytes = 0, total_bytes = 0;
    std::string why;
    if (DeviceMemory(i, &free_bytes, &total_bytes, &why)) {
      info.free_memory = free_bytes;
    } else if (query.note.empty()) {
      query.note = "free memory unknown: " + why;
    }
    query.devices.push_back(info);
  }
  cudaGetLastError();
  return query;
}

}  // namespace torchpool
