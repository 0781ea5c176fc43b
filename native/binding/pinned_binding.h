#pragma once
// allocPinned(bytes, device): the native half of pool.allocInput. Page-locked host memory
// (engine/pinned_inputs.h) wrapped in an ArrayBuffer that owns it: { buffer } on success, or
// { reason } when there is none to be had (no CUDA in this build, or the driver said no), so
// that lib/pool.ts falls back to ordinary memory and says why.

#include <napi.h>

namespace torchpool {

Napi::Value AllocPinned(const Napi::CallbackInfo& info);

}  // namespace torchpool
