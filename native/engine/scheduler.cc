#include "engine/scheduler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TORCHPOOL_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define TORCHPOOL_CPU_RELAX() asm volatile("yield")
#else
#define TORCHPOOL_CPU_RELAX() std::this_thread::yield()
#endif

namespace torchpool {
namespace {

bool Expired(const Request& request, Clock::time_point now) { return now >= request.deadline; }

bool Batchable(const Request& request) { return !request.batch_key.empty(); }

}  // namespace

void Scheduler::Configure(int engines, SchedulerOptions options) {
  std::lock_guard<std::mutex> lock(mutex_);
  options_ = options;
  lanes_.clear();
  for (int i = 0; i < engines; ++i) lanes_.push_back(std::make_unique<LaneData>());
  healthy_ = engines;
  batching_.store(options.max_batch_rows > 1);
}

void Scheduler::Submit(std::vector<RequestPtr>& requests, std::vector<Status>* refusals) {
  refusals->assign(requests.size(), Status::Ok());
  std::vector<int> wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < requests.size(); ++i) {
      if (closed_ || draining_) {
        (*refusals)[i] = Status(ErrorCode::kClosed, "the pool is closed");
      } else if (healthy_ == 0) {
        (*refusals)[i] = Status(ErrorCode::kNoDevice,
                                "no healthy engine is left: every engine was taken out after repeated "
                                "device errors (see pool.stats())");
      } else if (options_.max_queue_size > 0 && queued_.load() >= options_.max_queue_size) {
        (*refusals)[i] = Status(ErrorCode::kQueueFull, "the queue is full (" + std::to_string(options_.max_queue_size) +
                                                           " requests waiting; maxQueueSize)");
      } else {
        bool notify = false;
        const int lane = PickLane(*requests[i], &notify);
        Push(lane, std::move(requests[i]));
        if (notify && std::find(wake.begin(), wake.end(), lane) == wake.end()) wake.push_back(lane);
      }
    }
    population_ = std::max(population_, static_cast<double>(queued_.load(std::memory_order_relaxed) + running_.load(std::memory_order_relaxed)));
  }
  // One wake-up per engine, after the lock: it takes everything that arrived at once.
  for (int lane : wake) lanes_[lane]->wake.notify_one();
}

int Scheduler::PickLane(const Request& request, bool* notify) {
  const int n = static_cast<int>(lanes_.size());
  const int start = static_cast<int>(next_lane_++ % lanes_.size());
  // 1. An engine filling a batch this request can join.
  if (Batchable(request)) {
    for (int k = 0; k < n; ++k) {
      LaneData& lane = *lanes_[(start + k) % n];
      if (lane.healthy && lane.state == LaneState::kFilling && lane.filling != nullptr &&
          lane.filling->batch_key == request.batch_key &&
          lane.filling_rows + request.rows <= options_.max_batch_rows) {
        lane.filling_rows += request.rows;  // so the next request sees the room left
        *notify = true;
        return (start + k) % n;
      }
    }
  }
  // 2. A spinning engine: it is watching the queue and needs no wake-up.
  // 3. A sleeping engine: wake exactly that one, and claim it so the next request goes elsewhere.
  for (LaneState wanted : {LaneState::kSpinning, LaneState::kSleeping}) {
    for (int k = 0; k < n; ++k) {
      LaneData& lane = *lanes_[(start + k) % n];
      if (lane.healthy && lane.state == wanted && lane.size == 0) {
        *notify = wanted == LaneState::kSleeping;
        lane.state = LaneState::kWaking;
        return (start + k) % n;
      }
    }
  }
  // 4. Everyone is busy: the shortest lane; idle engines will steal from it anyway.
  int best = -1;
  for (int k = 0; k < n; ++k) {
    int i = (start + k) % n;
    if (!lanes_[i]->healthy) continue;
    if (best < 0 || lanes_[i]->size < lanes_[best]->size) best = i;
  }
  return best;
}

void Scheduler::Push(int lane, RequestPtr request) {
  LaneData& data = *lanes_[lane];
  data.levels[request->priority].push_back(std::move(request));
  ++data.size;
  queued_.fetch_add(1);
}

RequestPtr Scheduler::Remove(LaneData& lane, std::deque<RequestPtr>& level, size_t position) {
  RequestPtr request = std::move(level[position]);
  level.erase(level.begin() + static_cast<std::ptrdiff_t>(position));
  --lane.size;
  if (queued_.fetch_sub(1) == 1 && draining_) WakeAllLocked();
  return request;
}

RequestPtr Scheduler::PopBest(int engine, Clock::time_point now,
                              std::vector<RequestPtr>* expired) {
  // Effective priority = level + one per aging interval waited, so low priority cannot starve.
  // The head of each level is its oldest request and so its best; ties go to the oldest.
  const int64_t aging_us = options_.priority_aging.count();
  auto score = [&](int level, const Request& r) -> int64_t {
    if (aging_us <= 0) return level;
    return level + std::chrono::duration_cast<std::chrono::microseconds>(now - r.enqueued).count() /
                       aging_us;
  };
  struct Best {
    int lane = -1;
    int level = 0;
    int64_t score = 0;
    Clock::time_point enqueued;
  };
  auto best_in = [&](int lane_index) {
    Best best;
    LaneData& lane = *lanes_[lane_index];
    for (auto it = lane.levels.begin(); it != lane.levels.end();) {
      auto& fifo = it->second;
      while (!fifo.empty() && Expired(*fifo.front(), now)) expired->push_back(Remove(lane, fifo, 0));
      if (fifo.empty()) {
        it = lane.levels.erase(it);
        continue;
      }
      int64_t s = score(it->first, *fifo.front());
      if (best.lane < 0 || s > best.score || (s == best.score && fifo.front()->enqueued < best.enqueued)) {
        best = Best{lane_index, it->first, s, fifo.front()->enqueued};
      }
      ++it;
    }
    return best;
  };
  Best own = best_in(engine);
  Best other;
  const int n = static_cast<int>(lanes_.size());
  for (int k = 1; k < n; ++k) {
    int i = (engine + k) % n;
    if (lanes_[i]->size == 0) continue;
    Best b = best_in(i);
    if (b.lane >= 0 && (other.lane < 0 || b.score > other.score ||
                        (b.score == other.score && b.enqueued < other.enqueued))) {
      other = b;
    }
  }
  // Own lane first; steal when it is empty or holds only less urgent work.
  Best pick = own;
  if (other.lane >= 0 && (own.lane < 0 || other.score > own.score)) {
    pick = other;
    ++lanes_[engine]->stolen;
  }
  if (pick.lane < 0) return nullptr;
  LaneData& lane = *lanes_[pick.lane];
  auto& fifo = lane.levels[pick.level];
  RequestPtr request = Remove(lane, fifo, 0);
  if (fifo.empty()) lane.levels.erase(pick.level);
  return request;
}

bool Scheduler::Take(int engine, Work* work) {
  std::unique_lock<std::mutex> lock(mutex_);
  LaneData& lane = *lanes_[engine];
  bool spun = false;
  for (;;) {
    if (closed_) return false;
    Clock::time_point now = Clock::now();
    RequestPtr first = lane.healthy ? PopBest(engine, now, &work->expired) : nullptr;
    if (first) {
      spun = false;
      work->batch.push_back(std::move(first));
      const Request& head = *work->batch.front();
      int64_t rows = head.rows;
      const size_t max_members = MemberLimit(lane, now);
      if (Batchable(head) && batching_enabled() && rows < options_.max_batch_rows && max_members > 1) {
        Gather(engine, now, work, &rows, max_members);
        // Wait for more only while the oldest member is younger than the queue delay (or, with
        // a hold, while the device could not start the batch anyway).
        bool held = false;
        for (;;) {
          const Clock::time_point now_filling = Clock::now();
          const Clock::time_point fill_until = FillDeadline(engine, *work, now_filling);
          if (rows >= options_.max_batch_rows || work->batch.size() >= max_members || closed_ || now_filling >= fill_until) break;
          held = held || (lane.holding && now_filling >= head.enqueued + options_.max_queue_delay);
          lane.state = LaneState::kFilling;
          lane.filling = &head;
          lane.filling_rows = rows;
          lane.wake.wait_until(lock, fill_until);
          Gather(engine, Clock::now(), work, &rows, max_members);
        }
        lane.filling = nullptr;
        lane.holding = false;
        if (held) ++lane.held;
        TrimToBucket(lane, work, &rows);
      }
      running_.fetch_add(work->batch.size(), std::memory_order_relaxed);
      lane.state = LaneState::kBusy;
      // Work left in this lane (a request that came for the batch but did not fit, or arrived
      // as filling ended) must not wait for this engine while another one sleeps.
      if (lane.size > 0) WakeSleeperLocked();
      return true;
    }
    if (!work->expired.empty()) {
      lane.state = LaneState::kBusy;
      return true;  // the engine rejects them, then comes back
    }
    if (ShouldExit()) return false;
    if (!spun && lane.healthy && options_.spin.count() > 0) {
      // Spin without the lock, watching the shared count: a request pushed to any lane shows up
      // here within nanoseconds, and no futex wake-up is needed on either side.
      spun = true;
      lane.state = LaneState::kSpinning;
      WakeHoldersLocked();
      const Clock::time_point spin_until = Clock::now() + options_.spin;
      lock.unlock();
      while (queued_.load(std::memory_order_acquire) == 0 && Clock::now() < spin_until) {
        for (int i = 0; i < 32; ++i) TORCHPOOL_CPU_RELAX();
      }
      lock.lock();
      continue;
    }
    lane.state = LaneState::kSleeping;
    WakeHoldersLocked();
    lane.wake.wait(lock);
    if (lane.state == LaneState::kWaking) spun = true;  // woken for work: no spin on a miss
  }
}

RequestPtr Scheduler::Cancel(const Client* client, uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& lane : lanes_) {
    for (auto it = lane->levels.begin(); it != lane->levels.end(); ++it) {
      auto& fifo = it->second;
      for (size_t i = 0; i < fifo.size(); ++i) {
        if (fifo[i]->id != id || fifo[i]->client_ptr() != client) continue;
        RequestPtr request = Remove(*lane, fifo, i);
        if (fifo.empty()) lane->levels.erase(it);
        return request;
      }
    }
  }
  return nullptr;
}

std::vector<RequestPtr> Scheduler::RemoveClient(const Client* client) {
  std::vector<RequestPtr> removed;
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& lane : lanes_) {
    for (auto it = lane->levels.begin(); it != lane->levels.end();) {
      auto& fifo = it->second;
      for (size_t i = 0; i < fifo.size();) {
        if (fifo[i]->client_ptr() == client) {
          removed.push_back(Remove(*lane, fifo, i));
        } else {
          ++i;
        }
      }
      it = fifo.empty() ? lane->levels.erase(it) : std::next(it);
    }
  }
  return removed;
}

std::vector<RequestPtr> Scheduler::MarkUnhealthy(int engine) {
  std::vector<RequestPtr> moved;
  std::vector<RequestPtr> orphans;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    LaneData& lane = *lanes_[engine];
    if (!lane.healthy) return orphans;
    lane.healthy = false;
    --healthy_;
    for (auto& [level, fifo] : lane.levels) {
      for (auto& request : fifo) moved.push_back(std::move(request));
    }
    lane.levels.clear();
    queued_.fetch_sub(lane.size);
    lane.size = 0;
    if (healthy_ == 0) {
      orphans = std::move(moved);
    } else {
      for (RequestPtr& request : moved) {
        bool notify = false;
        Push(PickLane(*request, &notify), std::move(request));
      }
    }
    if (draining_ && queued_.load() == 0) WakeAllLocked();
  }
  // Sleeping engines may now have work; a spurious wake-up costs them one check.
  for (auto& lane : lanes_) lane->wake.notify_all();
  for (RequestPtr& request : orphans) {
    request->status = Status(ErrorCode::kNoDevice,
                             "no healthy engine is left to run this request (the last one was "
                             "taken out after repeated device errors)");
  }
  return orphans;
}

void Scheduler::DisableBatching(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!batching_.exchange(false)) return;
  batching_disabled_reason_ = reason;
}

std::string Scheduler::batching_disabled_reason() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return batching_disabled_reason_;
}

std::vector<RequestPtr> Scheduler::CloseNow() {
  std::vector<RequestPtr> left;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    for (auto& lane : lanes_) {
      for (auto& [level, fifo] : lane->levels) {
        for (auto& request : fifo) left.push_back(std::move(request));
      }
      lane->levels.clear();
      lane->size = 0;
    }
    queued_.store(0);
  }
  for (auto& lane : lanes_) lane->wake.notify_all();
  return left;
}

void Scheduler::CloseWhenDrained() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    draining_ = true;
  }
  for (auto& lane : lanes_) lane->wake.notify_all();
}

void Scheduler::WakeSleeperLocked() {
  for (auto& lane : lanes_) {
    if (lane->healthy && lane->state == LaneState::kSleeping) {
      lane->state = LaneState::kWaking;
      lane->wake.notify_one();
      return;
    }
  }
}

void Scheduler::WakeAllLocked() {
  for (auto& lane : lanes_) lane->wake.notify_all();
}

LaneStats Scheduler::Lane(int engine) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const LaneData& lane = *lanes_[engine];
  return LaneStats{lane.size, lane.stolen, lane.held, lane.healthy};
}

}  // namespace torchpool
