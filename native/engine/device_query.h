#pragma once
// What CUDA devices this process can use. Without CUDA in the build, or without a GPU or driver
// on the machine, the list is empty and `note` says why; it is never an error.

#include <cstdint>
#include <string>
#include <vector>

namespace torchpool {

struct CudaDeviceInfo {
  int index;
  std::string name;
  uint64_t total_memory;
  uint64_t free_memory;
  int compute_major;
  int compute_minor;
  int multiprocessors;
};

struct CudaQuery {
  std::vector<CudaDeviceInfo> devices;
  std::string note;
  int runtime_version = 0;  // e.g. 13000
  int driver_version = 0;
};

bool CompiledWithCuda();
CudaQuery QueryCudaDevices();

}  // namespace torchpool
