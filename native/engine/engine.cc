#include "engine/engine.h"

#include <ATen/Parallel.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/InferenceMode.h>

#include "engine/batching.h"
#include "engine/device_scope.h"
#include "engine/ivalue_tensors.h"
#include "engine/precision.h"

namespace torchpool {
namespace {

int64_t Nanos(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

}  // namespace

Engine::Engine(EngineConfig config, std::unique_ptr<ModelRunner> runner)
    : config_(std::move(config)), runner_(std::move(runner)) {}

Engine::~Engine() { Engine::Join(); }

void Engine::Start(Scheduler* scheduler, CompletionSink* sink) {
  scheduler_ = scheduler;
  completions_ = sink;
  thread_ = std::thread([this] { Run(); });
}

void Engine::Join() {
  std::lock_guard<std::mutex> lock(join_mutex_);
  if (thread_.joinable()) thread_.join();
}

void Engine::Run() {
  // OpenMP thread counts are per OS thread, so each engine sets its own. A CUDA engine's thread
  // works on its own GPU for its whole life.
  at::init_num_threads();
  at::set_num_threads(config_.intra_op_threads);
  SetThreadDevice(config_.device);
  Work work;
  for (;;) {
    BeforeTake();
    if (!scheduler_->Take(config_.index, &work)) break;
    for (RequestPtr& request : work.expired) {
      request->status = TimeoutStatus();
      request->finished = Clock::now();
      completions_->Complete(std::move(request));
    }
    work.expired.clear();
    if (!work.batch.empty()) RunBatch(work.batch);
    work.batch.clear();
  }
  AfterQueueClosed();
}

std::vector<c10::IValue> Engine::WarmupInputs(const WarmupShape& shape, const c10::Device& device) {
  return {at::zeros(shape.shape, at::TensorOptions().dtype(shape.dtype).device(device))};
}

Status Engine::Warmup() {
  // Twice: TorchScript's profiling executor optimises the graph on the second run.
  for (const WarmupShape& shape : config_.execution.warmup) {
    for (int i = 0; i < 2; ++i) {
      c10::IValue output;
      Status status = Forward(WarmupInputs(shape, c10::Device(c10::kCPU)), {}, &output);
      if (!status.ok()) return Status(status.code(), "warmup failed: " + status.message());
    }
  }
  return Status::Ok();
}

void Engine::RunBatch(std::vector<RequestPtr>& batch) {
  const Clock::time_point started = Clock::now();
  in_flight_.store(static_cast<int>(batch.size()), std::memory_order_relaxed);
  if (batch.size() == 1) {
    Execute(*batch.front());
  } else {
    std::vector<c10::IValue> args;
    std::unordered_map<std::string, c10::IValue> kwargs;
    std::vector<int64_t> rows;
    for (const RequestPtr& r : batch) rows.push_back(r->rows);
    c10::IValue output;
    Status status;
    try {
      MergeInputs(batch, &args, &kwargs);
    } catch (...) {
      status = StatusFromCurrentException(ErrorCode::kInternal);
    }
    if (status.ok()) status = Forward(std::move(args), std::move(kwargs), &output);
    std::vector<c10::IValue> parts;
    std::string why;
    bool split = status.ok() && SplitOutput(output, rows, &parts, &why);
    if (status.ok() && !split) {
      scheduler_->DisableBatching("the model's " + why + " (batching is now off for this pool)");
    }
    const Clock::time_point finished = Clock::now();
    for (size_t i = 0; i < batch.size(); ++i) {
      Request& r = *batch[i];
      if (split) {
        r.engine = config_.index;
        r.started = started;
        r.finished = finished;
        r.batch_size = static_cast<int>(batch.size());
        r.output = std::move(parts[i]);
        r.status = Status::Ok();
        r.args.clear();
        r.kwargs.clear();
      } else {
        // Isolate the failure: each member runs alone, so only a request that fails by itself
        // is rejected.
        retried_.fetch_add(1, std::memory_order_relaxed);
        Execute(r);
      }
    }
    if (!status.ok()) {
      bool alone_ok = true;
      for (const RequestPtr& r : batch) alone_ok = alone_ok && r->status.ok();
      if (alone_ok) DisableBatchingAfter(status, batch.size());
    }
  }
  in_flight_.store(0, std::memory_order_relaxed);
  Finish(batch, Clock::now() - started);
}

void Engine::DisableBatchingAfter(const Status& merged, size_t members) {
  // A forward error that the same requests do not raise alone is the model refusing merged
  // inputs (a compiled model with a fixed batch size, say): stop merging rather than fail and
  // retry every batch. Out-of-memory and CUDA errors say nothing about the model.
  if (merged.code() != ErrorCode::kForward) return;
  const std::string first_line = merged.message().substr(0, merged.message().find('\n'));
  scheduler_->DisableBatching("a merged forward of " + std::to_string(members) + " requests failed (" + first_line +
                              ") while each of them ran alone: the model takes one request at a time (a fixed batch "
                              "size?), so batching is now off for this pool");
}

void Engine::Finish(std::vector<RequestPtr>& batch, Clock::duration busy) {
  busy_ns_.fetch_add(Nanos(busy), std::memory_order_relaxed);
  batches_.fetch_add(1, std::memory_order_relaxed);
  requests_.fetch_add(batch.size(), std::memory_order_relaxed);
  for (RequestPtr& request : batch) {
    if (!request->status.ok()) failures_.fetch_add(1, std::memory_order_relaxed);
    RecordHealth(*request);
  }
  for (RequestPtr& request : batch) completions_->Complete(std::move(request));
}

void Engine::Execute(Request& request) {
  request.engine = config_.index;
  request.batch_size = 1;
  request.started = Clock::now();
  request.status = Forward(std::move(request.args), std::move(request.kwargs), &request.output);
  request.args.clear();
  request.kwargs.clear();
  request.finished = Clock::now();
}

Status Engine::Forward(std::vector<c10::IValue> args,
                       std::unordered_map<std::string, c10::IValue> kwargs, c10::IValue* output) {
  // The CPU engine: inputs are views of the caller's memory, outputs host tensors.
  try {
    c10::InferenceMode inference_mode;
    const ExecutionOptions& options = config_.execution;
    const bool cast = options.precision != Precision::kFp32 || options.channels_last;
    if (cast) {
      auto cast_input = [&options](const at::Tensor& t) { return CastInput(t, options); };
      for (auto& arg : args) arg = MapTensors(arg, cast_input);
      for (auto& [name, value] : kwargs) value = MapTensors(value, cast_input);
    }
    c10::IValue result = runner_->Forward(std::move(args), kwargs);
    *output = MapTensors(result, [&options](const at::Tensor& t) {
      return ToHostTensor(CastOutput(t, options));
    });
    return Status::Ok();
  } catch (...) {
    return SummarizeForwardError(StatusFromCurrentException(ErrorCode::kForward));
  }
}

void Engine::RecordHealth(Request& request) {
  if (request.status.ok()) {
    consecutive_device_errors_ = 0;
    return;
  }
  if (!IsDeviceError(request.status.code())) return;  // the request's fault, not the device's
  if (taken_out_ || config_.unhealthy_after <= 0 ||
      ++consecutive_device_errors_ < config_.unhealthy_after) {
    return;
  }
  taken_out_ = true;
  completions_->EngineUnhealthy(*this, request.status);
  for (RequestPtr& orphan : scheduler_->MarkUnhealthy(config_.index)) {
    orphan->finished = Clock::now();
    completions_->Complete(std::move(orphan));
  }
}

EngineStats Engine::Stats() const {
  EngineStats stats;
  stats.index = config_.index;
  stats.instance = config_.instance;
  stats.device = config_.device.str();
  stats.threads = config_.intra_op_threads;
  stats.requests = requests_.load(std::memory_order_relaxed);
  stats.batches = batches_.load(std::memory_order_relaxed);
  stats.failures = failures_.load(std::memory_order_relaxed);
  stats.retried = retried_.load(std::memory_order_relaxed);
  stats.busy_ms = busy_ns_.load(std::memory_order_relaxed) / 1e6;
  stats.in_flight = in_flight_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace torchpool
