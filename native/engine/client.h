#pragma once
// One JavaScript thread's use of a pool: the owner's thread, or a worker_thread that attached to
// a shared pool (pool.share() / InferencePool.attach()). Requests remember their client, so an
// engine hands each finished request to the thread that submitted it: every thread settles its
// own promises, and no event loop carries another's work.
//
// A client can be detached (its thread closes its pool or exits). From then on its requests are
// dropped where they finish, and Detach() waits until none is left, because their input tensors
// read the thread's own ArrayBuffers.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "engine/request.h"

namespace torchpool {

// An engine was taken out of rotation; every client hears of it (engineUnhealthy).
struct EngineEvent {
  int engine = 0;
  std::string device;
  int instance = 0;
  Status status;
};

// Per-thread counters for stats().threads.
struct ClientStats {
  uint64_t thread_id = 0;
  bool owner = false;
  bool attached = true;
  uint64_t submitted = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;
  uint64_t live = 0;  // requests accepted and not yet settled or dropped
};

class Client {
 public:
  // `wake` asks the JS thread to drain; it is called with this client's lock held and never
  // after Detach() returned.
  Client(uint64_t thread_id, bool owner, std::function<void()> wake)
      : thread_id_(thread_id), owner_(owner), wake_(std::move(wake)) {}
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Any thread. Only the push that finds the queue empty wakes the JS thread, so a burst of
  // completions costs one wake-up.
  void Complete(RequestPtr request) { CompleteAll(&request, &request + 1); }
  // [first, last): one batch's requests of this client, handed over together.
  void CompleteAll(RequestPtr* first, RequestPtr* last);
  void Notify(EngineEvent event);

  // JS thread.
  void Drain(std::vector<RequestPtr>* requests, std::vector<EngineEvent>* events);
  // Drops what is waiting, stops wake-ups, and blocks until every request of this client that
  // an engine still holds was dropped. Call after its queued requests left the scheduler.
  void Detach();
  void CountSettled(bool ok) {
    completed_.fetch_add(1, std::memory_order_relaxed);
    if (!ok) failed_.fetch_add(1, std::memory_order_relaxed);
  }

  // Request lifetime (Request::BindClient and ~Request).
  void Acquire() {
    live_.fetch_add(1, std::memory_order_relaxed);
    submitted_.fetch_add(1, std::memory_order_relaxed);
  }
  void Release();

  bool owner() const { return owner_; }
  ClientStats Stats() const;

 private:
  const uint64_t thread_id_;
  const bool owner_;
  std::function<void()> wake_;
  mutable std::mutex mutex_;
  std::condition_variable all_released_;
  bool detached_ = false;
  std::vector<RequestPtr> completed_requests_;
  std::vector<EngineEvent> events_;
  std::atomic<uint64_t> live_{0};
  std::atomic<uint64_t> submitted_{0};
  std::atomic<uint64_t> completed_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace torchpool
