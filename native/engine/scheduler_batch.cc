// How an engine's batch is formed once it took a request (Scheduler::Take): which queued requests
// join it (Gather), how long it may keep filling (queue delay, a CUDA engine's hold), how many
// members a CPU engine takes while the JS thread turns the rest around, and the overflow a batch
// just over a bucket gives back. The queue itself (lanes, stealing, priorities) is scheduler.cc.

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "engine/scheduler.h"

namespace torchpool {
namespace {

bool Expired(const Request& request, Clock::time_point now) { return now >= request.deadline; }

}  // namespace

void Scheduler::Gather(int engine, Clock::time_point now, Work* work, int64_t* rows, size_t max_members) {
  const Request& first = *work->batch.front();
  const int n = static_cast<int>(lanes_.size());
  const int64_t limit = options_.max_batch_rows;
  auto room = [&] { return *rows < limit && work->batch.size() < max_members; };
  for (int k = 0; k < n && room(); ++k) {
    LaneData& lane = *lanes_[(engine + k) % n];
    for (auto it = lane.levels.begin(); it != lane.levels.end() && room();) {
      auto& fifo = it->second;
      for (size_t i = 0; i < fifo.size() && room();) {
        const Request& candidate = *fifo[i];
        if (candidate.batch_key != first.batch_key || *rows + candidate.rows > limit) {
          ++i;
        } else if (Expired(candidate, now)) {
          work->expired.push_back(Remove(lane, fifo, i));
        } else {
          *rows += candidate.rows;
          if (k > 0) ++lanes_[engine]->stolen;
          work->batch.push_back(Remove(lane, fifo, i));
        }
      }
      it = fifo.empty() ? lane.levels.erase(it) : std::next(it);
    }
  }
}

void Scheduler::SplitForTurnaround(int engine) {
  std::lock_guard<std::mutex> lock(mutex_);
  lanes_[engine]->split_for_turnaround = true;
}

size_t Scheduler::MemberLimit(const LaneData& lane, Clock::time_point now) {
  // How many requests the pool holds (waiting, or in an engine): the recent peak seen by Submit,
  // since at any one moment part of them is with the JS thread (being settled and resubmitted).
  // It halves every 250 ms, so a pool whose load falls follows it down. The decay goes by time,
  // not by batch: engines that take their shares of one burst one after the other see the same
  // population, and no share is cut short into a fragment.
  const double elapsed_ms = std::chrono::duration<double, std::milli>(now - population_at_).count();
  if (elapsed_ms > 0) population_ *= std::exp2(-elapsed_ms / 250.0);
  population_at_ = now;
  const double population = population_;
  // A queue delay is the user asking batches to fill: it is kept as it is. When the pool holds
  // more than a batch, batches alternate anyway.
  if (!lane.split_for_turnaround || options_.max_queue_delay.count() > 0 || population > static_cast<double>(options_.max_batch_rows)) {
    return SIZE_MAX;
  }
  // One engine splits the pool in two: one half computes while the JS thread turns the other
  // around. With several, each takes its share, and the others' work is the overlap.
  size_t splitting = 0;
  for (const auto& other : lanes_) splitting += other->healthy && other->split_for_turnaround ? 1 : 0;
  const double shares = static_cast<double>(std::max<size_t>(2, splitting));
  return std::max<size_t>(1, static_cast<size_t>(std::ceil(population / shares)));
}

Clock::time_point Scheduler::FillDeadline(int engine, const Work& work, Clock::time_point now) {
  LaneData& lane = *lanes_[engine];
  const Clock::time_point fill_until = work.batch.front()->enqueued + options_.max_queue_delay;
  // A hold never makes a member start after its deadline (timeoutMs).
  Clock::time_point hold_until = lane.hold_until;
  for (const RequestPtr& member : work.batch) hold_until = std::min(hold_until, member->deadline);
  // Holding makes sense only while every other engine is busy too: an idle one would run the
  // work now.
  lane.holding = hold_until > now && hold_until > fill_until && !OtherEngineIdleLocked(engine);
  return lane.holding ? hold_until : fill_until;
}

bool Scheduler::OtherEngineIdleLocked(int engine) const {
  for (size_t i = 0; i < lanes_.size(); ++i) {
    const LaneData& other = *lanes_[i];
    if (static_cast<int>(i) == engine || !other.healthy) continue;
    if (other.state == LaneState::kSleeping || other.state == LaneState::kSpinning) return true;
  }
  return false;
}

void Scheduler::WakeHoldersLocked() {
  for (auto& lane : lanes_) {
    if (lane->holding) lane->wake.notify_one();
  }
}

void Scheduler::SetHold(int engine, Clock::time_point until) {
  std::lock_guard<std::mutex> lock(mutex_);
  lanes_[engine]->hold_until = until;
}

void Scheduler::ReleaseHold(int engine) {
  std::lock_guard<std::mutex> lock(mutex_);
  LaneData& lane = *lanes_[engine];
  lane.hold_until = Clock::time_point();
  if (lane.holding) lane.wake.notify_one();
}

void Scheduler::TrimToBucket(LaneData& lane, Work* work, int64_t* rows) {
  // With CUDA graph buckets a batch runs padded up to the next bucket. When it is just over one
  // (17 rows between 16 and 32), the padding would waste more rows than the overflow holds: give
  // the overflow back to the front of this lane, for the next batch, and run the exact bucket.
  const std::vector<int64_t>& buckets = options_.batch_buckets;
  if (buckets.empty() || work->batch.size() < 2) return;
  int64_t below = 0, above = 0;
  for (int64_t b : buckets) {
    if (b <= *rows) below = b;
    if (b >= *rows && above == 0) above = b;
  }
  if (below == 0 || below == *rows || above == 0 || *rows - below >= above - *rows) return;
  std::vector<RequestPtr> overflow;
  while (work->batch.size() > 1 && *rows > below) {
    *rows -= work->batch.back()->rows;
    overflow.push_back(std::move(work->batch.back()));
    work->batch.pop_back();
  }
  for (RequestPtr& request : overflow) {  // last taken first, so they keep their order
    lane.levels[request->priority].push_front(std::move(request));
    ++lane.size;
    queued_.fetch_add(1);
  }
}

}  // namespace torchpool
