#pragma once
// The shared work-stealing queue that feeds every engine.
//
// Each engine has a lane: its own deque of requests, split by priority level. The JS thread
// puts a new request on the lane of an idle engine when there is one (waking exactly that
// engine), else on the shortest lane. An engine takes from its own lane first and steals from
// the others when its own is empty, so a fast or lightly loaded engine ends up doing more and
// nothing waits behind a slow one. While taking, an engine gathers queued requests with the same
// batch key into one batch (dynamic batching), waiting up to max_queue_delay for more.
//
// One mutex guards all lanes: critical sections are a few hundred nanoseconds and the parties
// are the JS thread and a handful of engines, so finer locking would buy nothing measurable.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/request.h"

namespace torchpool {

struct SchedulerOptions {
  int64_t max_batch_rows = 1;                     // 1: no batching
  std::chrono::microseconds max_queue_delay{0};   // how long a batch may wait to fill
  std::chrono::microseconds spin{0};              // idle engines spin this long before sleeping
  std::chrono::microseconds priority_aging{100000};  // one priority level gained per interval waited
  size_t max_queue_size = 0;                      // 0: unbounded
  // CUDA graph buckets (ascending): a batch just over one gives its overflow back (Take).
  std::vector<int64_t> batch_buckets;
};

// What an engine takes in one go.
struct Work {
  std::vector<RequestPtr> batch;    // run as one forward when there is more than one
  std::vector<RequestPtr> expired;  // passed their deadline while queued: reject with TIMEOUT
};

struct LaneStats {
  size_t depth;
  uint64_t stolen;  // requests this engine took from other lanes
  uint64_t held;    // batches filled past max_queue_delay while the device was busy (SetHold)
  bool healthy;
};

class Scheduler {
 public:
  void Configure(int engines, SchedulerOptions options);

  // JS thread: queues the requests one thread made in one turn of its event loop, under one
  // lock. A refused one (QUEUE_FULL, NO_DEVICE, CLOSED) stays in `requests` with its reason in
  // `refusals`; the others are moved out (left null).
  void Submit(std::vector<RequestPtr>& requests, std::vector<Status>* refusals);
  // Removes a queued request of `client` (ids are per JS thread); nullptr when it already
  // started or finished.
  RequestPtr Cancel(const Client* client, uint64_t id);
  // Removes every queued request of `client` (its thread closes its pool or exits).
  std::vector<RequestPtr> RemoveClient(const Client* client);
  // Refuses new work and hands back everything still queued.
  std::vector<RequestPtr> CloseNow();
  // Refuses new work; engines finish what is queued, then Take() returns false.
  void CloseWhenDrained();

  // Engine threads. Blocks until there is work; false once the engine should exit.
  bool Take(int engine, Work* work);
  // Takes the engine out of rotation and moves its lane to the healthy ones. Returns the
  // requests nobody can run any more (when no healthy engine is left) for rejection.
  std::vector<RequestPtr> MarkUnhealthy(int engine);
  // Engine threads, for engines whose device runs batches asynchronously (a CUDA pipeline).
  // `until`: when the engine's device is expected to be ready for its next batch. Until then a
  // partial batch that engine is filling keeps filling past max_queue_delay, since launched
  // earlier it would only queue behind the batch still on the device. A past time: no hold.
  // Set before each Take; the hold ends early when another engine goes idle or ReleaseHold.
  void SetHold(int engine, Clock::time_point until);
  // The engine's device has nothing left in flight: stop holding its partial batch now.
  void ReleaseHold(int engine);
  // A batched output could not be split per request: run requests alone from now on.
  void DisableBatching(const std::string& reason);
  // An engine whose forwards share the cores with the JS thread (a CPU engine): when every
  // request in the pool would fit into one of its batches, it takes about half of them, so that
  // the JS thread settles and resubmits one half while the other computes. Taking all of them
  // would leave the engine idle during that turnaround, and the first request back would run
  // alone (batches of 63 and 1 for 64 callers). Not with a maxQueueDelay: batches fill then.
  void SplitForTurnaround(int engine);
  // Engine threads: `requests` taken by Take have finished (they left the engine).
  void Done(size_t requests) { running_.fetch_sub(requests, std::memory_order_relaxed); }

  // Any thread.
  size_t Depth() const { return queued_.load(std::memory_order_relaxed); }
  LaneStats Lane(int engine) const;
  bool batching_enabled() const { return batching_.load(std::memory_order_relaxed); }
  std::string batching_disabled_reason() const;
  const SchedulerOptions& options() const { return options_; }

 private:
  enum class LaneState { kBusy, kFilling, kSpinning, kSleeping, kWaking };

  struct LaneData {
    std::map<int, std::deque<RequestPtr>, std::greater<int>> levels;  // priority -> FIFO
    size_t size = 0;
    std::condition_variable wake;
    LaneState state = LaneState::kBusy;
    bool healthy = true;
    uint64_t stolen = 0;
    const Request* filling = nullptr;  // the first request of the batch being filled
    int64_t filling_rows = 0;
    Clock::time_point hold_until;      // SetHold: fill on until then while the device is busy
    bool holding = false;              // filling past max_queue_delay because of hold_until
    uint64_t held = 0;
    bool split_for_turnaround = false;
  };

  // All private helpers run with mutex_ held.
  int PickLane(const Request& request, bool* notify);
  void Push(int lane, RequestPtr request);
  RequestPtr PopBest(int engine, Clock::time_point now, std::vector<RequestPtr>* expired);
  void Gather(int engine, Clock::time_point now, Work* work, int64_t* rows, size_t max_members);
  // The most requests engine `engine` takes into one batch now (SplitForTurnaround; else no limit
  // beyond max_batch_rows).
  size_t MemberLimit(const LaneData& lane, Clock::time_point now);
  void TrimToBucket(LaneData& lane, Work* work, int64_t* rows);
  // When engine `engine`'s fill may end: max_queue_delay after its oldest member, or later
  // while its device is busy and no other engine is idle to take work.
  Clock::time_point FillDeadline(int engine, const Work& work, Clock::time_point now);
  bool OtherEngineIdleLocked(int engine) const;
  void WakeHoldersLocked();  // an engine went idle: holders launch what they have
  RequestPtr Remove(LaneData& lane, std::deque<RequestPtr>& level, size_t position);
  void WakeAllLocked();
  void WakeSleeperLocked();  // one idle engine, to steal what a busy one holds
  bool ShouldExit() const { return closed_ || (draining_ && queued_.load() == 0); }

  SchedulerOptions options_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<LaneData>> lanes_;
  std::atomic<size_t> queued_{0};  // read without the lock by spinning engines and stats
  std::atomic<size_t> running_{0};  // taken by engines, not yet Done
  double population_ = 0;  // recent peak of queued + running requests, decaying (SplitForTurnaround)
  Clock::time_point population_at_;  // when population_ last decayed
  std::atomic<bool> batching_{true};
  std::string batching_disabled_reason_;
  int healthy_ = 0;
  size_t next_lane_ = 0;  // round-robin start so ties spread over engines
  bool closed_ = false;
  bool draining_ = false;
};

}  // namespace torchpool
