#include "engine/engine.h"

#include <ATen/Parallel.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/python/update_graph_executor_opt.h>

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
    : config_(std::move(config)), runner_(std::move(runner)), weights_(runner_->Weights()), bucket_padding_(config_.execution.batch_buckets) {}

Engine::~Engine() { Engine::Join(); }

void Engine::Launch() { thread_ = std::thread([this] { Run(); }); }

Status Engine::AwaitWarm() {
  std::unique_lock<std::mutex> lock(start_mutex_);
  start_cv_.wait(lock, [this] { return warm_done_; });
  return warm_status_;
}

void Engine::Start(Scheduler* scheduler, CompletionSink* sink, OpProfiler* profiler) {
  {
    std::lock_guard<std::mutex> lock(start_mutex_);
    scheduler_ = scheduler;
    completions_ = sink;
    profiler_ = profiler;
    go_ = true;
  }
  start_cv_.notify_all();
}

void Engine::Join() {
  std::lock_guard<std::mutex> lock(join_mutex_);
  {
    // A thread still waiting for Start (the load failed elsewhere) gives up.
    std::lock_guard<std::mutex> start(start_mutex_);
    abandon_ = true;
  }
  start_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Engine::PrepareThread() {
  // OpenMP thread counts are per OS thread, so each engine sets its own. A CUDA engine's thread
  // works on its own GPU for its whole life. TorchScript's executor optimisations are a
  // thread-local switch too.
  at::init_num_threads();
  at::set_num_threads(config_.intra_op_threads);
  SetThreadDevice(config_.device);
  torch::jit::setGraphExecutorOptimize(config_.execution.optimized_execution);
  thread_optimizes_.store(torch::jit::getGraphExecutorOptimize(), std::memory_order_relaxed);
}

void Engine::Run() {
  PrepareThread();
  const Clock::time_point warm_start = Clock::now();
  warming_ = true;
  Status warm = Warmup();
  warming_ = false;
  bucket_padding_.ResetCounts();
  first_shapes_.SetWarmupMs(std::chrono::duration<double, std::milli>(Clock::now() - warm_start).count());
  {
    std::unique_lock<std::mutex> lock(start_mutex_);
    warm_status_ = warm;
    warm_done_ = true;
    start_cv_.notify_all();
    start_cv_.wait(lock, [this] { return go_ || abandon_; });
    if (!go_ || !warm.ok()) return;
  }
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
    // pool.profile(): this thread's operator callback follows the profile on and off.
    if (profiler_ != nullptr) profiler_->SyncThread(config_.index, &profiler_state_);
    if (!work.batch.empty()) RunBatch(work.batch);
    work.batch.clear();
  }
  AfterQueueClosed();
}

std::vector<c10::IValue> Engine::WarmupInputs(const WarmupShape& shape, const c10::Device& device) {
  std::vector<c10::IValue> args{at::zeros(shape.shape, at::TensorOptions().dtype(shape.dtype).device(device))};
  for (const WarmupTensor& t : shape.rest) args.emplace_back(at::zeros(t.shape, at::TensorOptions().dtype(t.dtype).device(device)));
  return args;
}

std::vector<WarmupShape> Engine::WarmupRuns(const WarmupShape& shape) const {
  // Batch sizes: every bucket (dim 0 of every tensor), then the shape's own rows when they are
  // not a bucket. Lengths (padding buckets): every bucket on each padded input's axis.
  std::vector<int64_t> rows;
  bool rows_are_a_bucket = false;
  const int64_t own_rows = shape.shape.empty() ? 0 : shape.shape[0];
  for (int64_t bucket : bucket_padding_.buckets()) {
    rows.push_back(bucket);
    rows_are_a_bucket = rows_are_a_bucket || bucket == own_rows;
  }
  if (!rows_are_a_bucket) rows.push_back(own_rows);
  const PaddingSpec& padding = config_.execution.padding;
  std::vector<int64_t> lengths = padding.buckets;
  if (lengths.empty()) lengths.push_back(0);  // 0: the shape's own length
  std::vector<WarmupShape> runs;
  for (int64_t length : lengths) {
    for (int64_t r : rows) {
      WarmupShape run = shape;
      auto resize = [&](std::vector<int64_t>& dims, int position) {
        if (!dims.empty() && r > 0) dims[0] = r;
        const PaddedInput* input = padding.Find(position, "");
        if (input != nullptr && length > 0 && static_cast<int64_t>(dims.size()) > input->axis) dims[input->axis] = length;
      };
      resize(run.shape, 0);
      for (size_t i = 0; i < run.rest.size(); ++i) resize(run.rest[i].shape, static_cast<int>(i + 1));
      runs.push_back(std::move(run));
    }
  }
  return runs;
}

Status Engine::Warmup() {
  // Twice per batch size: TorchScript's profiling executor optimises the graph on the second run.
  for (const WarmupShape& shape : config_.execution.warmup) {
    for (const WarmupShape& run : WarmupRuns(shape)) {
      for (int i = 0; i < 2; ++i) {
        c10::IValue output;
        Status status = Forward(WarmupInputs(run, c10::Device(c10::kCPU)), {}, &output);
        if (!status.ok()) return Status(status.code(), "warmup failed: " + status.message());
        if (!run.shape.empty()) bucket_padding_.NoteUnpadded(output, run.shape[0]);
      }
    }
  }
  return Status::Ok();
}

Status Engine::ForwardRows(std::vector<c10::IValue> args, std::unordered_map<std::string, c10::IValue> kwargs,
                           int64_t rows, c10::IValue* output) {
  const int64_t padded = bucket_padding_.PaddedRows(rows);
  if (padded == 0) {
    Status status = Forward(std::move(args), std::move(kwargs), output);
    if (status.ok()) bucket_padding_.NoteUnpadded(*output, rows);
    return status;
  }
  // The unpadded inputs stay (references, not copies) for a re-run if padding turns out unsound.
  std::vector<c10::IValue> kept = args;
  std::unordered_map<std::string, c10::IValue> kept_kwargs = kwargs;
  for (c10::IValue& arg : args) arg = PadRows(arg, rows, padded);
  for (auto& [name, value] : kwargs) value = PadRows(value, rows, padded);
  Status status = Forward(std::move(args), std::move(kwargs), output);
  if (!status.ok() || bucket_padding_.Unpad(output, padded, rows)) return status;
  return Forward(std::move(kept), std::move(kept_kwargs), output);
}

void Engine::PadLengths(std::vector<RequestPtr>& batch) {
  const PaddingSpec& padding = config_.execution.padding;
  if (!padding.enabled()) return;
  PadMembers(batch, padding);
  // Counted per batch: one atomic add per counter, not per request.
  uint64_t requests = 0, own = 0, run = 0;
  for (const RequestPtr& r : batch) {
    if (r->length <= 0) continue;
    const int64_t rows = std::max<int64_t>(1, r->rows);
    ++requests;
    own += static_cast<uint64_t>(r->length * rows);
    run += static_cast<uint64_t>(std::max(r->padded_length, r->length) * rows);
  }
  if (requests == 0) return;
  padded_requests_.fetch_add(requests, std::memory_order_relaxed);
  own_positions_.fetch_add(own, std::memory_order_relaxed);
  padded_positions_.fetch_add(run, std::memory_order_relaxed);
}

void Engine::RunBatch(std::vector<RequestPtr>& batch) {
  PadLengths(batch);
  const Clock::time_point started = Clock::now();
  in_flight_.store(static_cast<int>(batch.size()), std::memory_order_relaxed);
  if (batch.size() == 1) {
    Execute(*batch.front());
  } else {
    std::vector<c10::IValue> args;
    std::unordered_map<std::string, c10::IValue> kwargs;
    std::vector<int64_t> rows;
    int64_t total_rows = 0;
    for (const RequestPtr& r : batch) {
      rows.push_back(r->rows);
      total_rows += r->rows;
    }
    c10::IValue output;
    Status status;
    try {
      MergeInputs(batch, &args, &kwargs);
    } catch (...) {
      status = StatusFromCurrentException(ErrorCode::kInternal);
    }
    if (status.ok()) status = ForwardRows(std::move(args), std::move(kwargs), total_rows, &output);
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
  // Outputs into the callers' arrays, each request its own rows: here, off the JS thread.
  for (RequestPtr& request : batch) {
    // Padded lengths come off each request's outputs before anything else sees them.
    if (config_.execution.padding.enabled()) TrimPadding(*request, config_.execution.padding);
    if (!request->status.ok() || request->output_targets.empty()) continue;
    request->status = WriteOutputTargets(request->output, request->output_targets);
    if (!request->status.ok()) request->output = c10::IValue();
  }
  busy_ns_.fetch_add(Nanos(busy), std::memory_order_relaxed);
  batches_.fetch_add(1, std::memory_order_relaxed);
  requests_.fetch_add(batch.size(), std::memory_order_relaxed);
  for (RequestPtr& request : batch) {
    if (!request->status.ok()) failures_.fetch_add(1, std::memory_order_relaxed);
    RecordHealth(*request);
  }
  scheduler_->Done(batch.size());
  completions_->CompleteAll(batch);
}

void Engine::Execute(Request& request) {
  request.engine = config_.index;
  request.batch_size = 1;
  request.started = Clock::now();
  // A batchable request alone is a batch of its rows: padded up to a bucket like merged ones.
  const int64_t rows = request.batch_key.empty() ? 0 : request.rows;
  request.status = ForwardRows(std::move(request.args), std::move(request.kwargs), rows, &request.output);
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
    c10::IValue result = TrackFirstShape(args, kwargs, [&] { return runner_->Forward(std::move(args), kwargs); });
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
  stats.buckets = bucket_padding_.Snapshot();
  stats.first_shapes = first_shapes_.Snapshot();
  stats.optimized_execution = thread_optimizes_.load(std::memory_order_relaxed);
  stats.weights = weights_;
  stats.padded_requests = padded_requests_.load(std::memory_order_relaxed);
  stats.own_positions = own_positions_.load(std::memory_order_relaxed);
  stats.padded_positions = padded_positions_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace torchpool
