#include "engine/kernel_trace.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <exception>
#include <set>
#include <utility>

#ifdef TORCHPOOL_WITH_KINETO_API
#include <torch/csrc/autograd/profiler_kineto.h>
#endif

namespace torchpool {
namespace {

// Kineto keeps one trace per process.
std::atomic<bool> g_tracing{false};

#ifdef TORCHPOOL_WITH_KINETO_API
namespace kp = torch::autograd::profiler;
namespace impl = torch::profiler::impl;

// An event's start and length in ns: libtorch 1.13 and the early 2.x releases give them in us
// (startUs/durationUs), later ones in ns (startNs/durationNs). The overloads pick what exists.
template <typename E>
auto StartNs(const E& e, int) -> decltype(static_cast<int64_t>(e.startNs())) {
  return static_cast<int64_t>(e.startNs());
}
template <typename E>
int64_t StartNs(const E& e, long) {
  return static_cast<int64_t>(e.startUs()) * 1000;
}
template <typename E>
auto DurationNs(const E& e, int) -> decltype(static_cast<int64_t>(e.durationNs())) {
  return static_cast<int64_t>(e.durationNs());
}
template <typename E>
int64_t DurationNs(const E& e, long) {
  return static_cast<int64_t>(e.durationUs()) * 1000;
}
#endif

int64_t SteadyMinusUnixNs() {
  const auto steady = std::chrono::steady_clock::now().time_since_epoch();
  const auto unix_time = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady).count() -
         std::chrono::duration_cast<std::chrono::nanoseconds>(unix_time).count();
}

}  // namespace

bool KernelTrace::Compiled() {
#ifdef TORCHPOOL_WITH_KINETO_API
  return true;
#else
  return false;
#endif
}

KernelTrace::~KernelTrace() {
  // A pool closed while its profile recorded: the trace belongs to the thread that started it,
  // which is the one closing (the JS thread), so stop it here and free Kineto for others.
  if (recording_) {
    std::string ignored;
    Stop(&ignored);
  }
}

bool KernelTrace::Start(std::string* why) {
#ifdef TORCHPOOL_WITH_KINETO_API
  if (recording_) return true;
  if (g_tracing.exchange(true)) {
    *why = "another pool of this process is recording GPU kernels (Kineto keeps one trace per process)";
    return false;
  }
  try {
    const impl::ProfilerConfig config(impl::ProfilerState::KINETO);
    const std::set<impl::ActivityType> activities{impl::ActivityType::CUDA};
    kp::prepareProfiler(config, activities);
    kp::enableProfiler(config, activities);
  } catch (const std::exception& e) {
    g_tracing.store(false);
    const std::string what = e.what();
    *why = "libtorch's Kineto profiler did not start: " + what.substr(0, what.find('\n'));
    return false;
  }
  steady_minus_unix_ns_ = SteadyMinusUnixNs();
  recording_ = true;
  return true;
#else
  *why = "this libtorch has no Kineto profiler API";
  return false;
#endif
}

std::vector<KernelEvent> KernelTrace::Stop(std::string* why) {
  std::vector<KernelEvent> events;
  if (!recording_) return events;
  recording_ = false;
#ifdef TORCHPOOL_WITH_KINETO_API
  try {
    std::unique_ptr<kp::ProfilerResult> result = kp::disableProfiler();
    if (result) {
      for (const kp::KinetoEvent& e : result->events()) {
        // Host-side events (the CUDA runtime calls, CPU operators) are not the device's work.
        if (e.deviceType() != c10::DeviceType::CUDA) continue;
        KernelEvent event;
        event.name = e.name();
        event.device = static_cast<int>(e.deviceIndex());
        event.start_ns = StartNs(e, 0) + steady_minus_unix_ns_;
        event.duration_ns = DurationNs(e, 0);
        events.push_back(std::move(event));
      }
    }
    if (events.empty()) *why = "libtorch recorded no GPU activity in this profile (a libtorch built without Kineto and CUPTI records none)";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    *why = "libtorch's Kineto profiler failed to stop: " + what.substr(0, what.find('\n'));
  }
#endif
  g_tracing.store(false);
  return events;
}

}  // namespace torchpool
