#pragma once
// Finished requests wait here for the JS thread. Only the push that finds the queue empty wakes
// the JS thread, so a burst of completions costs one wake-up, not one per request.

#include <functional>
#include <mutex>
#include <vector>

#include "engine/request.h"

namespace torchpool {

class CompletionQueue {
 public:
  explicit CompletionQueue(std::function<void()> wake_js_thread)
      : wake_js_thread_(std::move(wake_js_thread)) {}

  void Push(RequestPtr request);
  std::vector<RequestPtr> Drain();

 private:
  std::function<void()> wake_js_thread_;
  std::mutex mutex_;
  std::vector<RequestPtr> items_;
};

}  // namespace torchpool
