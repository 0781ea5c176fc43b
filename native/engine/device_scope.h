#pragma once
// Makes a CUDA device the calling thread's current device for a scope, so that whatever
// libtorch allocates or folds there ("cuda" constants in a model, streams, events) lands on the
// engine's GPU and not on cuda:0. Unlike c10's guards on libtorch before 2.1, it never switches
// back to a device that has no CUDA context yet: that would create one (hundreds of MB of
// device memory) on a GPU the pool does not use. A no-op for the CPU and in builds without CUDA.

#include <c10/core/Device.h>

namespace torchpool {

class DeviceScope {
 public:
  explicit DeviceScope(const c10::Device& device);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;  // the device to restore; -1: leave the thread as it is
};

// Engine and completion threads: `device` is current for the rest of the thread's life.
void SetThreadDevice(const c10::Device& device);

}  // namespace torchpool
