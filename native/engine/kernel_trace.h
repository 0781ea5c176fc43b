#pragma once
// pool.profile() on CUDA engines: what the GPU itself ran (kernels, copies, memsets), recorded by
// libtorch's Kineto profiler through CUPTI. Operators on the engine threads are OpProfiler's;
// this adds the device's side. Kineto records the whole process's GPU activity and keeps one
// trace at a time, so one KernelTrace records at a time per process; a second gets a reason
// instead. Built when this libtorch has the Kineto C++ API (TORCHPOOL_WITH_KINETO_API, probed by
// scripts/cmake/probe_torch_apis.cmake); whether it records anything depends on libtorch having
// been built with Kineto and CUPTI (the CUDA wheels are).

#include <cstdint>
#include <string>
#include <vector>

namespace torchpool {

struct KernelEvent {
  std::string name;
  int device = 0;
  int64_t start_ns = 0;  // steady clock, like OpEvent
  int64_t duration_ns = 0;
};

class KernelTrace {
 public:
  KernelTrace() = default;
  KernelTrace(const KernelTrace&) = delete;
  KernelTrace& operator=(const KernelTrace&) = delete;
  ~KernelTrace();

  // Whether this build has the Kineto API (buildInfo().kernelProfiler).
  static bool Compiled();

  // Start and Stop run on the same thread (Kineto keeps its state per thread). Start: false,
  // with the reason in `why`, when nothing will be recorded.
  bool Start(std::string* why);
  // The GPU activity since Start; `why` explains an empty list where libtorch gave none.
  std::vector<KernelEvent> Stop(std::string* why);
  bool recording() const { return recording_; }

 private:
  bool recording_ = false;
  int64_t steady_minus_unix_ns_ = 0;  // Kineto's times are since the Unix epoch
};

}  // namespace torchpool
