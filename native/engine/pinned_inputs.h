#pragma once
// Input memory a caller asked a pool for (pool.allocInput): page-locked host memory that CUDA
// engines copy to the device straight from, skipping the copy into their own staging blocks.
//
// The registry is process-wide, so every engine of every pool (and every thread) recognises such
// memory. The memory belongs to the JavaScript ArrayBuffer over it and is freed when that buffer
// is garbage collected, never by a pool: a pool closing leaves it valid.

#include <cstddef>
#include <cstdint>
#include <string>

namespace torchpool {
namespace pinned_inputs {

// Page-locked memory usable from every device (portable), allocated with CUDA device `device`
// current so that no context is created on a GPU the pool does not use. nullptr, with `why`,
// when the build has no CUDA or the driver refuses.
void* Allocate(size_t bytes, int device, std::string* why);
// Any thread; never fails (errors at process exit, when the runtime may be gone, are ignored).
void Free(void* data);
// Whether [data, data + bytes) lies inside one live allocation. A relaxed load and nothing else
// while no allocation exists, so the ordinary input path pays nothing for the feature.
bool Contains(const void* data, size_t bytes);
uint64_t LiveBytes();

}  // namespace pinned_inputs
}  // namespace torchpool
