#include "engine/cuda/host_copy.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace torchpool {
namespace {

constexpr size_t kParallelFrom = size_t{2} << 20;  // smaller copies are not worth a hand-off
constexpr size_t kMaxHelpers = 4;

// Helper threads shared by every engine of the process. Deliberately never destroyed: they
// wait on a condition variable and end with the process, so no static destructor has to join
// them while Node is shutting down.
class CopyHelpers {
 public:
  static CopyHelpers& Get() {
    static CopyHelpers* helpers = new CopyHelpers();
    return *helpers;
  }

  size_t size() const { return threads_.size(); }

  void Run(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    wake_.notify_one();
  }

 private:
  CopyHelpers() {
    const size_t cores = std::thread::hardware_concurrency();
    const size_t count = std::min(kMaxHelpers, cores / 4);
    for (size_t i = 0; i < count; ++i) {
      threads_.emplace_back([this] { Loop(); });
      threads_.back().detach();
    }
  }

  void Loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return !tasks_.empty(); });
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
};

}  // namespace

void CopyHostMemory(void* dst, const void* src, size_t bytes) {
  CopyHelpers& helpers = CopyHelpers::Get();
  if (bytes < kParallelFrom || helpers.size() == 0) {
    std::memcpy(dst, src, bytes);
    return;
  }
  const size_t parts = helpers.size() + 1;  // the caller copies one part too
  const size_t chunk = (bytes / parts + 4095) & ~size_t{4095};
  std::mutex mutex;
  std::condition_variable done;
  size_t pending = 0;
  auto* out = static_cast<char*>(dst);
  const auto* in = static_cast<const char*>(src);
  size_t offset = chunk;  // the caller takes [0, chunk)
  for (; offset < bytes; offset += chunk) {
    const size_t n = std::min(chunk, bytes - offset);
    {
      std::lock_guard<std::mutex> lock(mutex);
      ++pending;
    }
    helpers.Run([&, offset, n] {
      std::memcpy(out + offset, in + offset, n);
      std::lock_guard<std::mutex> lock(mutex);
      if (--pending == 0) done.notify_one();
    });
  }
  std::memcpy(out, in, std::min(chunk, bytes));
  std::unique_lock<std::mutex> lock(mutex);
  done.wait(lock, [&] { return pending == 0; });
}

}  // namespace torchpool
