#include "engine/completion_queue.h"

namespace torchpool {

void CompletionQueue::Push(RequestPtr request) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    was_empty = items_.empty();
    items_.push_back(std::move(request));
  }
  if (was_empty) wake_js_thread_();
}

std::vector<RequestPtr> CompletionQueue::Drain() {
  std::vector<RequestPtr> drained;
  std::lock_guard<std::mutex> lock(mutex_);
  drained.swap(items_);
  return drained;
}

}  // namespace torchpool
