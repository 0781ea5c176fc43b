#pragma once
// The queue every engine takes work from. Enqueueing never blocks the JS thread for longer than
// a short critical section; an idle engine sleeps on the condition variable.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

#include "engine/request.h"

namespace torchpool {

class WorkQueue {
 public:
  void Push(RequestPtr request);

  // Blocks until a request is available; returns nullptr once the queue is closed.
  RequestPtr Pop();

  // Wakes every waiting engine and hands back the requests nobody took.
  std::vector<RequestPtr> Close();

  size_t Depth() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<RequestPtr> items_;
  bool closed_ = false;
};

}  // namespace torchpool
