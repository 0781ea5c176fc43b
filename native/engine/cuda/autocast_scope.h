#pragma once
// precision: 'autocast': CUDA autocast (fp16) around one forward on the engine thread. The
// flag is thread-local, so it never leaks into other engines. libtorch 2.4 renamed the API.

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace torchpool {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define TORCHPOOL_AUTOCAST_PER_DEVICE 1
#endif

class AutocastScope {
 public:
  explicit AutocastScope(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
#ifdef TORCHPOOL_AUTOCAST_PER_DEVICE
    previous_ = at::autocast::is_autocast_enabled(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kHalf);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    previous_ = at::autocast::is_enabled();
    at::autocast::set_autocast_gpu_dtype(at::kHalf);
    at::autocast::set_enabled(true);
#endif
  }
  ~AutocastScope() {
    if (!enabled_) return;
#ifdef TORCHPOOL_AUTOCAST_PER_DEVICE
    at::autocast::set_autocast_enabled(at::kCUDA, previous_);
#else
    at::autocast::set_enabled(previous_);
#endif
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_;
  bool previous_ = false;
};

// Autocast caches fp16 copies of the weights it casts (per thread in libtorch 1.13, per process
// later). They would outlive the engine: drop them when it stops and after its warmup.
inline void ClearAutocastCache(bool autocast) {
  if (!autocast) return;
  try {
    at::autocast::clear_cache();
  } catch (...) {
  }
}

}  // namespace torchpool
