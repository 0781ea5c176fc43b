#include "engine/cuda/cuda_engine.h"

#include <c10/core/InferenceMode.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <torch/version.h>

#include "engine/batching.h"
#include "engine/cuda/autocast_scope.h"
#include "engine/device_scope.h"
#include "engine/engine_factory.h"
#include "engine/ivalue_tensors.h"
#include "engine/precision.h"

namespace torchpool {

// --- Process-wide: graphs on libtorch < 2.1 --------------------------------------------------

namespace {

// Live CUDA engines of the process, and how many of them capture graphs.
std::atomic<int> live_cuda_engines{0};
std::atomic<int> live_graph_engines{0};

}  // namespace

Status CheckEnginePlan(const std::vector<EngineConfig>& engines) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  (void)engines;
  return Status::Ok();  // thread-local capture: engines do not disturb each other
#else
  int cuda = 0;
  bool graphs = false;
  for (const EngineConfig& config : engines) {
    if (!config.device.is_cuda()) continue;
    ++cuda;
    graphs = graphs || config.execution.cuda_graphs;
  }
  const std::string why =
      "libtorch " TORCH_VERSION " captures CUDA graphs process-wide (thread-local capture needs "
      "libtorch 2.1 or later), so while one engine captured, every other CUDA engine's work would fail";
  if (graphs && (cuda > 1 || live_cuda_engines.load() > 0)) {
    return Status(ErrorCode::kInvalidArg,
                  "cudaGraphs needs its engine to be the only CUDA engine in the process here: " + why +
                      ". Use one CUDA engine (one device, instancesPerDevice: 1) or upgrade libtorch");
  }
  if (cuda > 0 && live_graph_engines.load() > 0) {
    return Status(ErrorCode::kInvalidArg,
                  "another pool in this process captures CUDA graphs on its only CUDA engine: " + why +
                      ". Close it, turn its cudaGraphs off, or upgrade libtorch");
  }
  return Status::Ok();
#endif
}

CudaEngine::CudaEngine(EngineConfig config, std::unique_ptr<ModelRunner> runner)
    : Engine(std::move(config), std::move(runner)),
      device_index_(config_.device.index()),
      // Streams from libtorch's pool: non-blocking, never the default stream. Two engines on
      // one GPU get different ones.
      compute_stream_(c10::cuda::getStreamFromPool(false, device_index_)),
      copy_stream_(c10::cuda::getStreamFromPool(false, device_index_)),
      pinned_(config_.execution.pinned_memory_bytes),
      staging_(&pinned_, config_.device),
      graphs_(config_.execution.max_cuda_graphs, config_.execution.batch_buckets) {
  // The load thread made this device current before creating the engine (pool_workers.cc), so
  // the streams above were made on it; this scope covers the events.
  DeviceScope device_scope(config_.device);
  const int depth = std::max(1, config_.execution.pipeline_depth);
  for (int i = 0; i < depth; ++i) {
    auto slot = std::make_unique<Slot>();
    C10_CUDA_CHECK(cudaEventCreateWithFlags(&slot->inputs_ready, cudaEventDisableTiming));
    C10_CUDA_CHECK(cudaEventCreateWithFlags(&slot->done, cudaEventDisableTiming));
    free_slots_.push_back(slot.get());
    slots_.push_back(std::move(slot));
  }
  completion_thread_ = std::thread([this] { CompletionLoop(); });
  live_cuda_engines.fetch_add(1);
  if (config_.execution.cuda_graphs) live_graph_engines.fetch_add(1);
}

CudaEngine::~CudaEngine() {
  live_cuda_engines.fetch_sub(1);
  if (config_.execution.cuda_graphs) live_graph_engines.fetch_sub(1);
  CudaEngine::Join();
  {
    std::lock_guard<std::mutex> lock(slots_mutex_);
    stopping_ = true;
  }
  slot_submitted_.notify_all();
  if (completion_thread_.joinable()) completion_thread_.join();
  // Everything CUDA goes before the context: graphs (GraphCache), events here, pinned blocks in
  // ~PinnedPool. Errors are ignored: at process exit the runtime may already be shutting down.
  DeviceScope device_scope(config_.device);
  ClearAutocastCache(config_.execution.precision == Precision::kAutocast);
  cudaStreamSynchronize(compute_stream_.stream());
  cudaStreamSynchronize(copy_stream_.stream());
  for (auto& slot : slots_) {
    staging_.Release(&slot->buffers);
    cudaEventDestroy(slot->inputs_ready);
    cudaEventDestroy(slot->done);
  }
  cudaGetLastError();
}

void CudaEngine::Join() { Engine::Join(); }

// --- The pipeline's slots ---------------------------------------------------------------------

void CudaEngine::BeforeTake() {
  // Take no work while the pipeline is full: queued requests keep merging into bigger batches
  // until this engine can actually start one.
  std::unique_lock<std::mutex> lock(slots_mutex_);
  slot_freed_.wait(lock, [this] { return !free_slots_.empty(); });
  // With a batch still on the device, a partial batch may keep filling until the device is
  // about to be free. Set under slots_mutex_, so ReturnSlot's release cannot come before it.
  // No hold now and none set before (the common case for a lone request): the scheduler's lock
  // is not taken.
  if (config_.execution.fill_while_busy) {
    const int in_flight = static_cast<int>(slots_.size() - free_slots_.size());
    const Clock::time_point hold = busy_.LaunchAt(in_flight, Clock::now());
    if (hold != Clock::time_point() || hold_set_) scheduler_->SetHold(config_.index, hold);
    hold_set_ = hold != Clock::time_point();
  }
}

CudaEngine::Slot* CudaEngine::AcquireSlot() {
  std::unique_lock<std::mutex> lock(slots_mutex_);
  slot_freed_.wait(lock, [this] { return !free_slots_.empty(); });
  Slot* slot = free_slots_.back();
  free_slots_.pop_back();
  return slot;
}

void CudaEngine::ReturnSlot(Slot* slot, bool ran) {
  {
    std::lock_guard<std::mutex> lock(slots_mutex_);
    const bool fill = config_.execution.fill_while_busy;
    // A batch the device ran teaches the estimate its device time (under the lock that guards it).
    if (ran && fill) busy_.Completed(slot->rows, slot->started, slot->launched, slot->completed);
    free_slots_.push_back(slot);
    // The device has nothing of ours left: a batch being held for it can go now.
    if (fill && free_slots_.size() == slots_.size() && scheduler_ != nullptr) scheduler_->ReleaseHold(config_.index);
  }
  slot_freed_.notify_all();
}

void CudaEngine::Submit(Slot* slot) {
  {
    std::lock_guard<std::mutex> lock(slots_mutex_);
    if (slot->status.ok() && config_.execution.fill_while_busy) busy_.Launched(slot->rows, slot->launched);
    submitted_.push_back(slot);
  }
  slot_submitted_.notify_one();
}

void CudaEngine::AfterQueueClosed() {
  // The engine thread leaves only after every batch it launched was completed.
  std::unique_lock<std::mutex> lock(slots_mutex_);
  slot_freed_.wait(lock, [this] { return free_slots_.size() == slots_.size(); });
  lock.unlock();
  // libtorch 1.13 keeps autocast's fp16 weight copies per thread: drop this thread's.
  ClearAutocastCache(config_.execution.precision == Precision::kAutocast);
}

// --- Engine thread: launch ------------------------------------------------------------------

void CudaEngine::RunBatch(std::vector<RequestPtr>& batch) {
  PadLengths(batch);
  Slot* slot = AcquireSlot();
  bool unsplittable = false;
  Status status = Launch(batch, slot, &unsplittable);
  if (status.ok() || batch.size() == 1) {
    slot->status = std::move(status);
    slot->batch = std::move(batch);
    Submit(slot);
    return;
  }
  ReturnSlot(slot);
  if (unsplittable) scheduler_->DisableBatching(status.message());
  // Isolate the failure: each member runs alone (an OOM batch becomes smaller batches), so only
  // a request that fails by itself is rejected.
  bool alone_ok = true;
  const size_t members = batch.size();
  for (RequestPtr& request : batch) {
    retried_.fetch_add(1, std::memory_order_relaxed);
    std::vector<RequestPtr> alone;
    alone.push_back(std::move(request));
    Slot* own = AcquireSlot();
    own->status = Launch(alone, own, &unsplittable);
    alone_ok = alone_ok && own->status.ok();
    own->batch = std::move(alone);
    Submit(own);
  }
  if (!unsplittable && alone_ok) DisableBatchingAfter(status, members);
}

// --- Completion thread ------------------------------------------------------------------------

Status CudaEngine::Collect(Slot* slot, c10::IValue* output) {
  Status status;
  cudaError_t err = cudaEventSynchronize(slot->done);
  slot->completed = Clock::now();
  if (err != cudaSuccess) {
    status = Status(ErrorCode::kCuda, std::string("CUDA error while the forward ran: ") + cudaGetErrorString(err));
    cudaGetLastError();
  } else {
    try {
      const StagedBuffers& buffers = slot->buffers;
      *output = MapTensors(slot->output, [&buffers](const at::Tensor& t) {
        return ToHostTensor(Staging::Detach(t, buffers));
      });
    } catch (...) {
      status = StatusFromCurrentException(ErrorCode::kForward);
    }
  }
  slot->output = c10::IValue();
  staging_.Release(&slot->buffers);
  return status;
}

void CudaEngine::Complete(Slot* slot) {
  std::vector<RequestPtr>& batch = slot->batch;
  Status status = std::move(slot->status);
  c10::IValue output;
  const bool ran = status.ok();  // launched: the device ran it
  if (ran) {
    status = Collect(slot, &output);
    in_flight_.fetch_sub(static_cast<int>(batch.size()), std::memory_order_relaxed);
    if (!status.ok()) slot->rows = 0;  // a device error: its time says nothing of the batch's cost
  }
  const Clock::time_point finished = Clock::now();
  std::vector<c10::IValue> parts;
  if (status.ok() && batch.size() > 1) {
    std::vector<int64_t> rows;
    for (const RequestPtr& r : batch) rows.push_back(r->rows);
    std::string why;
    if (!SplitOutput(output, rows, &parts, &why)) status = Status(ErrorCode::kInternal, why);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    Request& r = *batch[i];
    r.engine = config_.index;
    r.batch_size = static_cast<int>(batch.size());
    r.started = slot->started;
    r.staged = slot->staged;
    r.forwarded = slot->forwarded;
    r.launched = slot->launched;
    r.completed = slot->completed;
    r.finished = finished;
    r.status = status;
    if (status.ok()) r.output = batch.size() > 1 ? std::move(parts[i]) : std::move(output);
    r.args.clear();
    r.kwargs.clear();
  }
  // Busy time: the wall time with at least one batch on the device, counted once.
  const Clock::time_point from = std::max(slot->started, last_completed_);
  last_completed_ = finished;
  Finish(batch, from < finished ? finished - from : Clock::duration::zero());
  batch.clear();
  ReturnSlot(slot, ran);
}

void CudaEngine::CompletionLoop() {
  // It waits on this device's events and frees its tensors: its device, not cuda:0.
  SetThreadDevice(config_.device);
  for (;;) {
    Slot* slot = nullptr;
    {
      std::unique_lock<std::mutex> lock(slots_mutex_);
      slot_submitted_.wait(lock, [this] { return stopping_ || !submitted_.empty(); });
      if (submitted_.empty()) return;  // stopping, and nothing left
      slot = submitted_.front();
      submitted_.pop_front();
    }
    Complete(slot);
  }
}

}  // namespace torchpool
