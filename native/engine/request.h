#pragma once
// One call of pool.infer(): built on a JS thread, queued in the Scheduler, run by an engine
// thread (alone or merged into a batch), handed back to the Client of the JS thread that made
// it. Ownership moves along that path (scheduler -> engine -> client).

#include <ATen/core/ivalue.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/output_targets.h"
#include "engine/status.h"

namespace torchpool {

class Client;

using Clock = std::chrono::steady_clock;

struct Request {
  Request() = default;
  ~Request();  // tells its client it is gone (request.cc)
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // The JS thread that submitted it, which settles it. Counted by the client while alive.
  void BindClient(std::shared_ptr<Client> owner);
  const Client* client_ptr() const { return client.get(); }

  std::vector<c10::IValue> args;
  std::unordered_map<std::string, c10::IValue> kwargs;

  // Scheduling, set on the JS thread before the request is queued.
  uint64_t id = 0;  // lets JS cancel it (abort, timeout); 0 for requests nobody cancels
  int priority = 0;  // higher first
  Clock::time_point deadline = Clock::time_point::max();  // must start before this
  std::string batch_key;  // requests with equal non-empty keys may share one forward
  int64_t rows = 0;       // dim 0 of the batched tensors
  int64_t length = 0;         // `padding`: its length on the padded axes (0: no padded input)
  int64_t padded_length = 0;  // the length it ran with, padding included (engine thread)
  // `output` option: where the outputs go (the caller's arrays), written when the request
  // finishes (Engine::Finish). Empty: outputs come back in memory of their own.
  std::vector<OutputTarget> output_targets;

  // Filled in by the engine that ran it.
  Status status;
  c10::IValue output;
  int engine = -1;
  int batch_size = 0;  // requests that shared the forward that produced `output`
  Clock::time_point enqueued;
  Clock::time_point started;
  // CUDA engines: inputs' copy queued, forward and outputs' copy queued, the device done (seen
  // by the completion thread). Unset (epoch) on CPU engines.
  Clock::time_point staged;
  Clock::time_point forwarded;  // the forward call returned (its kernels queued), within launch
  Clock::time_point launched;
  Clock::time_point completed;
  Clock::time_point finished;  // handed to its thread's client
  Clock::time_point drained;   // taken by its JS thread to settle

  // The JS side's handle on its promise (lib/settle.ts), which also keeps the input TypedArrays
  // that tensors in `args` / `kwargs` read without a copy alive until the request settles.
  uint32_t ticket = 0;
  // The `output` arrays (napi_ref, as void*; only the JS thread touches them), in the order of
  // output_targets.
  std::vector<void*> js_output_refs;

  std::shared_ptr<Client> client;
};

using RequestPtr = std::unique_ptr<Request>;

}  // namespace torchpool
