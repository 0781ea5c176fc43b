#pragma once
// pool.profile(): the operators the pool's engines run while a profile is on, recorded on the
// engine threads themselves through libtorch's RecordFunction callbacks (thread-local ones, so
// nothing else in the process is slowed down). Each engine thread attaches its callback before
// its next batch once a profile starts and detaches it once the profile stopped; events go into
// one list with the engine, start and duration of each operator (and TorchScript function).

#include <ATen/record_function.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace torchpool {

struct OpEvent {
  std::string name;
  int engine = 0;
  int64_t start_ns = 0;  // steady clock
  int64_t duration_ns = 0;
};

// What one engine thread keeps between batches (engine thread only).
struct ProfilerThreadState {
  at::CallbackHandle handle = 0;
  bool attached = false;
};

class OpProfiler {
 public:
  // JS thread. Start: false when a profile is already on. Stop: the events since Start.
  bool Start();
  std::vector<OpEvent> Stop(uint64_t* dropped);
  bool active() const { return active_.load(std::memory_order_acquire); }

  // Engine thread, before each batch: attaches or detaches its thread-local callback.
  void SyncThread(int engine, ProfilerThreadState* state);

  // From the callbacks (engine threads).
  void Add(OpEvent event);

 private:
  static constexpr size_t kMaxEvents = 2'000'000;  // beyond this, events are counted, not kept
  std::atomic<bool> active_{false};
  std::mutex mutex_;
  std::vector<OpEvent> events_;
  uint64_t dropped_ = 0;
};

}  // namespace torchpool
