#pragma once
// What can be known about a GPU without creating a CUDA context on it. A context costs hundreds
// of MB of device memory and stays for the life of the process, so listing devices and reading
// their memory must never create one: device properties come from the runtime (which creates
// none), free memory from NVML (the driver's management library, loaded at run time), and the
// runtime's cudaMemGetInfo is used only on a device that already has a context.

#include <cstdint>
#include <string>

namespace torchpool {

// Whether this process already holds the primary context of `device`.
bool HasPrimaryContext(int device);

// Free and total bytes of `device` (the whole device, every process). False when neither NVML
// nor an existing context can tell; `why` says which.
bool DeviceMemory(int device, uint64_t* free_bytes, uint64_t* total_bytes, std::string* why);

}  // namespace torchpool
