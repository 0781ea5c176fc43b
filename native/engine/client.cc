#include "engine/client.h"

namespace torchpool {

void Client::CompleteAll(RequestPtr* first, RequestPtr* last) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (detached_) {
    // Nobody will settle them: drop them here (outside the lock, their destructors call Release()).
    lock.unlock();
    for (; first != last; ++first) first->reset();
    return;
  }
  const bool was_empty = completed_requests_.empty() && events_.empty();
  for (; first != last; ++first) completed_requests_.push_back(std::move(*first));
  if (was_empty) wake_();
}

void Client::Notify(EngineEvent event) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (detached_) return;
  const bool was_empty = completed_requests_.empty() && events_.empty();
  events_.push_back(std::move(event));
  if (was_empty) wake_();
}

void Client::Drain(std::vector<RequestPtr>* requests, std::vector<EngineEvent>* events) {
  std::lock_guard<std::mutex> lock(mutex_);
  requests->swap(completed_requests_);
  events->swap(events_);
}

void Client::Release() {
  if (live_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard<std::mutex> lock(mutex_);
    all_released_.notify_all();
  }
}

void Client::Detach() {
  std::vector<RequestPtr> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    detached_ = true;
    dropped.swap(completed_requests_);
    events_.clear();
  }
  dropped.clear();  // releases them
  std::unique_lock<std::mutex> lock(mutex_);
  all_released_.wait(lock, [this] { return live_.load(std::memory_order_acquire) == 0; });
}

ClientStats Client::Stats() const {
  ClientStats stats;
  stats.thread_id = thread_id_;
  stats.owner = owner_;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats.attached = !detached_;
  }
  stats.submitted = submitted_.load(std::memory_order_relaxed);
  stats.completed = completed_.load(std::memory_order_relaxed);
  stats.failed = failed_.load(std::memory_order_relaxed);
  stats.live = live_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace torchpool
