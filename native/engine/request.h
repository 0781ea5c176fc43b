#pragma once
// One call of pool.infer(): built on the JS thread, run by an engine thread, completed back on
// the JS thread. Ownership moves along that path (work queue -> engine -> completion queue).

#include <ATen/core/ivalue.h>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/status.h"

namespace torchpool {

using Clock = std::chrono::steady_clock;

struct Request {
  std::vector<c10::IValue> args;
  std::unordered_map<std::string, c10::IValue> kwargs;

  // Filled in by the engine that ran it.
  Status status;
  c10::IValue output;
  int engine = -1;
  Clock::time_point enqueued;
  Clock::time_point started;
  Clock::time_point finished;

  // The promise to settle. Opaque here: only the JS thread reads it (binding/pool_wrap.cc).
  void* js_deferred = nullptr;
};

using RequestPtr = std::unique_ptr<Request>;

}  // namespace torchpool
