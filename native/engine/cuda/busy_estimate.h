#pragma once
// When will a CUDA engine's device be ready for its next batch? Estimated from the batches it
// ran (fillWhileBusy): while a batch is still on the device, launching the next one early buys
// nothing, since its kernels queue behind; filling it for longer makes it bigger. The engine
// asks the scheduler to hold its partial batch until the device is about to be free, minus the
// time a batch takes from being taken to being launched (staging and launch).
//
// Not thread-safe: the engine calls it under its slots mutex.

#include <map>

#include "engine/request.h"

namespace torchpool {

class BusyEstimate {
 public:
  // Engine thread: a batch of `rows` (as run, padding included) was launched. Unknown rows: 0.
  void Launched(int64_t rows, Clock::time_point launched);
  // Completion thread: a launched batch completed (its `done` event fired).
  void Completed(int64_t rows, Clock::time_point started, Clock::time_point launched, Clock::time_point completed);
  // When the engine should launch its next batch, given that `in_flight` batches are on the
  // device; a default time_point (no hold) when nothing is in flight or the estimate is unknown.
  Clock::time_point LaunchAt(int in_flight, Clock::time_point now) const;

 private:
  struct Average {
    double ns = 0;
    int samples = 0;
    void Add(double value);
  };
  std::map<int64_t, Average> device_by_rows_;  // device time of a batch, by its rows
  Average lead_;                               // taken -> launched
  Clock::time_point free_at_;                  // when the launched batches should be done
  bool free_at_known_ = false;
  Clock::time_point last_completed_;
};

}  // namespace torchpool
