#include "engine/work_queue.h"

namespace torchpool {

void WorkQueue::Push(RequestPtr request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    items_.push_back(std::move(request));
  }
  ready_.notify_one();
}

RequestPtr WorkQueue::Pop() {
  std::unique_lock<std::mutex> lock(mutex_);
  ready_.wait(lock, [this] { return closed_ || !items_.empty(); });
  if (closed_) return nullptr;
  RequestPtr request = std::move(items_.front());
  items_.pop_front();
  return request;
}

std::vector<RequestPtr> WorkQueue::Close() {
  std::vector<RequestPtr> left;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    for (auto& request : items_) left.push_back(std::move(request));
    items_.clear();
  }
  ready_.notify_all();
  return left;
}

size_t WorkQueue::Depth() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return items_.size();
}

}  // namespace torchpool
