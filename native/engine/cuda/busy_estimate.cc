#include "engine/cuda/busy_estimate.h"

#include <algorithm>

namespace torchpool {
namespace {

constexpr double kWeight = 0.2;        // of the newest sample in a running average
constexpr int kSamplesBeforeUse = 2;   // a first sample may carry a one-off cost
constexpr auto kMaxHold = std::chrono::milliseconds(50);  // a bound against a bad estimate

}  // namespace

void BusyEstimate::Average::Add(double value) {
  ns = samples == 0 ? value : ns + kWeight * (value - ns);
  ++samples;
}

void BusyEstimate::Launched(int64_t rows, Clock::time_point launched) {
  auto it = device_by_rows_.find(rows);
  if (rows <= 0 || it == device_by_rows_.end() || it->second.samples < kSamplesBeforeUse) {
    free_at_known_ = false;  // a batch of unknown cost is on the device
    return;
  }
  const auto device = std::chrono::nanoseconds(static_cast<int64_t>(it->second.ns));
  // Behind what is already queued on the device, or from now when that is done.
  const Clock::time_point begins = free_at_known_ ? std::max(free_at_, launched) : launched;
  free_at_ = begins + std::chrono::duration_cast<Clock::duration>(device);
  free_at_known_ = true;
}

void BusyEstimate::Completed(int64_t rows, Clock::time_point started, Clock::time_point launched,
                             Clock::time_point completed) {
  // The device's own time for this batch: from its launch, or from the previous batch's end
  // when it queued behind that one.
  const Clock::time_point began = std::max(launched, last_completed_);
  last_completed_ = completed;
  if (rows <= 0 || completed < began) return;
  device_by_rows_[rows].Add(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(completed - began).count()));
  lead_.Add(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(launched - started).count()));
}

Clock::time_point BusyEstimate::LaunchAt(int in_flight, Clock::time_point now) const {
  if (in_flight <= 0 || !free_at_known_ || lead_.samples < kSamplesBeforeUse) return Clock::time_point();
  const auto lead = std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(static_cast<int64_t>(lead_.ns)));
  const Clock::time_point at = free_at_ - lead;
  if (at <= now) return Clock::time_point();
  return std::min(at, now + std::chrono::duration_cast<Clock::duration>(kMaxHold));
}

}  // namespace torchpool
