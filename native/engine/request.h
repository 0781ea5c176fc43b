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

  // Owned by the JS side and opaque here; only the JS thread touches them (binding/pool_wrap.cc):
  // the promise to settle, and references that keep input TypedArrays alive while tensors in
  // `args` / `kwargs` read their memory without a copy.
  void* js_deferred = nullptr;
  std::vector<void*> js_input_refs;
};

using RequestPtr = std::unique_ptr<Request>;

}  // namespace torchpool
