#include "engine/op_profiler.h"

#include <chrono>
#include <memory>

namespace torchpool {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The profiler and engine of the calling thread while its callback is attached.
thread_local OpProfiler* tl_profiler = nullptr;
thread_local int tl_engine = 0;

struct Started : at::ObserverContext {
  int64_t start_ns = 0;
};

std::unique_ptr<at::ObserverContext> OnStart(const at::RecordFunction&) {
  if (tl_profiler == nullptr || !tl_profiler->active()) return nullptr;
  auto context = std::make_unique<Started>();
  context->start_ns = NowNs();
  return context;
}

void OnEnd(const at::RecordFunction& fn, at::ObserverContext* context) {
  if (context == nullptr || tl_profiler == nullptr) return;
  const int64_t start = static_cast<Started*>(context)->start_ns;
  OpEvent event;
  event.name = fn.name();
  event.engine = tl_engine;
  event.start_ns = start;
  event.duration_ns = NowNs() - start;
  tl_profiler->Add(std::move(event));
}

}  // namespace

bool OpProfiler::Start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (active_.load()) return false;
  events_.clear();
  dropped_ = 0;
  active_.store(true, std::memory_order_release);
  return true;
}

std::vector<OpEvent> OpProfiler::Stop(uint64_t* dropped) {
  std::lock_guard<std::mutex> lock(mutex_);
  active_.store(false, std::memory_order_release);
  *dropped = dropped_;
  std::vector<OpEvent> events;
  events.swap(events_);
  return events;
}

void OpProfiler::Add(OpEvent event) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!active_.load(std::memory_order_relaxed)) return;
  if (events_.size() >= kMaxEvents) {
    ++dropped_;
    return;
  }
  events_.push_back(std::move(event));
}

void OpProfiler::SyncThread(int engine, ProfilerThreadState* state) {
  const bool on = active();
  if (on == state->attached) return;
  if (on) {
    tl_profiler = this;
    tl_engine = engine;
    state->handle = at::addThreadLocalCallback(at::RecordFunctionCallback(OnStart, OnEnd).needsInputs(false));
    state->attached = true;
  } else {
    at::removeCallback(state->handle);
    tl_profiler = nullptr;
    state->attached = false;
  }
}

}  // namespace torchpool
