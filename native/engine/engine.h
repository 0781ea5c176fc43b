#pragma once
// An engine is one model replica on one device with the native thread that runs its forwards.
// Engines take work from the shared Scheduler (one request, or a batch of compatible ones) and
// hand results to a CompletionSink (the PoolCore, which routes each to the thread that asked);
// they never touch JavaScript values.

#include <ATen/ATen.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engine/bucket_padding.h"
#include "engine/execution_options.h"
#include "engine/first_shapes.h"
#include "engine/op_profiler.h"
#include "engine/runner/model_runner.h"
#include "engine/scheduler.h"

namespace torchpool {

struct EngineConfig {
  int index = 0;
  int instance = 0;  // which replica on its device (instancesPerDevice)
  c10::Device device = c10::Device(c10::kCPU);
  int intra_op_threads = 1;
  int unhealthy_after = 3;  // consecutive device errors that take the engine out; 0: never
  int64_t max_batch_rows = 1;  // the most rows a merged batch can have (maxBatchSize)
  ExecutionOptions execution;
};

// What a CUDA engine adds to its stats (engine/cuda/cuda_engine.cc); absent on CPU engines.
struct CudaEngineStats {
  std::string compute_stream;  // the engine's own streams, as handles (never the default stream)
  std::string copy_stream;
  int pipeline_depth = 0;
  uint64_t pinned_limit = 0;       // bytes
  uint64_t pinned_reserved = 0;    // bytes of pinned host memory held by the pool
  uint64_t pinned_in_use = 0;
  uint64_t pinned_bytes = 0;       // bytes copied through pinned staging (both directions)
  uint64_t pageable_bytes = 0;     // bytes copied from or to pageable memory: pool exhausted or off
  uint64_t direct_bytes = 0;       // input bytes copied straight from pool.allocInput memory
  uint64_t pageable_fallbacks = 0;  // staging requests the pinned pool could not serve
  uint64_t pinned_allocations = 0;  // cudaHostAlloc calls (at warmup, then only for new sizes)
  uint64_t overlapped = 0;         // batches copied in while the previous forward still ran
  uint64_t graphs_captured = 0;
  uint64_t graph_replays = 0;
  std::string graphs_disabled_reason;
  std::vector<int64_t> graph_buckets;                   // graphBatchSizes
  uint64_t graph_padded_rows = 0;                       // padding rows run to fit a bucket
  uint64_t graph_pool_bytes = 0;                        // device memory of the graphs' pool
  std::map<int64_t, uint64_t> graph_replays_by_bucket;
  std::map<std::string, uint64_t> graph_eager_fallbacks;  // forwards run eagerly, by reason
  uint64_t out_of_memory = 0;      // forwards that ran out of device memory (cache freed after each)
  uint64_t memory_free = 0;        // the device's free and total memory (cudaMemGetInfo)
  uint64_t memory_total = 0;
  uint64_t torch_allocated = 0;    // bytes in tensors of libtorch's caching allocator, this device
  uint64_t torch_reserved = 0;     // bytes the allocator holds from the driver, this device
};

struct EngineStats {
  int index = 0;
  int instance = 0;
  std::string device;
  int threads = 0;
  uint64_t requests = 0;
  uint64_t batches = 0;   // forwards run for work taken from the queue (a batch counts once)
  uint64_t failures = 0;
  uint64_t retried = 0;   // requests re-run alone after their batch failed
  double busy_ms = 0;
  int in_flight = 0;      // requests in flight on this engine (a CUDA pipeline holds several)
  BucketPadding::Stats buckets;
  FirstShapes::Stats first_shapes;
  bool optimized_execution = true;  // TorchScript's executor optimisations, as read on the engine's thread
  std::vector<WeightBlock> weights;  // the memory its weights take (shared blocks appear in several engines)
  uint64_t padded_requests = 0;   // `padding`: requests with a padded input, their lengths, and as run
  uint64_t own_positions = 0;
  uint64_t padded_positions = 0;
  bool has_cuda = false;
  CudaEngineStats cuda;
};

class Engine;

// Where engines hand finished requests and health changes (engine/pool_core.h).
class CompletionSink {
 public:
  virtual ~CompletionSink() = default;
  virtual void Complete(RequestPtr request) = 0;
  // A finished batch: one hand-over (and one wake-up of each JS thread) for all its members.
  virtual void CompleteAll(std::vector<RequestPtr>& batch) {
    for (RequestPtr& request : batch) Complete(std::move(request));
  }
  virtual void EngineUnhealthy(const Engine& engine, const Status& last_error) = 0;
};

// The CPU engine; CudaEngine (engine/cuda/) overrides how a batch runs. Make engines with
// MakeEngine (engine_factory.h), which picks the class for the device.
class Engine {
 public:
  Engine(EngineConfig config, std::unique_ptr<ModelRunner> runner);
  virtual ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Load thread: starts the engine's thread, which prepares itself (intra-op threads, device,
  // TorchScript executor settings: all per thread in libtorch) and runs the warmup there, so that
  // what warming caches per thread (cuDNN plans, the JIT's optimised plans) is the serving
  // thread's. Engines warm in parallel; AwaitWarm blocks until this one is done.
  void Launch();
  Status AwaitWarm();
  // Hands the warmed engine its queue (and the pool's profiler): the thread starts serving.
  void Start(Scheduler* scheduler, CompletionSink* sink, OpProfiler* profiler = nullptr);
  // Returns once the thread has finished its current forward and left the scheduler (or, never
  // started, gave up waiting for it). Safe to call from several threads at once: the thread is
  // joined exactly once.
  virtual void Join();

  virtual EngineStats Stats() const;
  const EngineConfig& config() const { return config_; }

 protected:
  // Engine thread, before it serves: runs each warmup shape (at every batch bucket) through the
  // forward, as often as the JIT, cuDNN and graph capture need to have settled.
  virtual Status Warmup();
  // Engine thread: called before each Take (a CUDA engine waits here for a pipeline slot, so
  // requests keep gathering into batches while its device is busy), and once the queue closed.
  virtual void BeforeTake() {}
  virtual void AfterQueueClosed() {}
  virtual void RunBatch(std::vector<RequestPtr>& batch);
  void Execute(Request& request);
  // `padding`: the batch's padded inputs to one length (engine thread, before it runs), counted.
  void PadLengths(std::vector<RequestPtr>& batch);
  // A forward of `rows` rows (0: not a batch of rows), padded up to a bucket when that applies.
  Status ForwardRows(std::vector<c10::IValue> args, std::unordered_map<std::string, c10::IValue> kwargs,
                     int64_t rows, c10::IValue* output);
  virtual Status Forward(std::vector<c10::IValue> args,
                         std::unordered_map<std::string, c10::IValue> kwargs, c10::IValue* output);
  // Runs `forward`, timing it when its input shape is new to this engine (FirstShapes).
  template <typename Fn>
  auto TrackFirstShape(const std::vector<c10::IValue>& args, const std::unordered_map<std::string, c10::IValue>& kwargs,
                       Fn&& forward) {
    const std::string key = InputShapeKey(args, kwargs);
    if (!first_shapes_.IsNew(key)) return forward();
    const Clock::time_point start = Clock::now();
    auto result = forward();
    first_shapes_.Record(key, std::chrono::duration<double, std::milli>(Clock::now() - start).count(), warming_);
    return result;
  }
  // The batches warmup runs for one warmup shape: every bucket (dim 0 = the bucket), then the
  // shape itself when its rows are not a bucket.
  std::vector<WarmupShape> WarmupRuns(const WarmupShape& shape) const;
  // The counters, health and completion of a finished batch (any one thread per engine).
  void Finish(std::vector<RequestPtr>& batch, Clock::duration busy);
  void RecordHealth(Request& request);
  // A merged batch failed but each member ran alone: turns batching off, with the reason.
  void DisableBatchingAfter(const Status& merged, size_t members);
  static std::vector<c10::IValue> WarmupInputs(const WarmupShape& shape, const c10::Device& device);

 private:
  void Run();
  void PrepareThread();

 protected:
  EngineConfig config_;
  std::unique_ptr<ModelRunner> runner_;  // what runs the forward (TorchScript, AOTInductor)
  std::vector<WeightBlock> weights_;     // runner_->Weights(), read once at load
  std::thread thread_;
  std::mutex join_mutex_;
  BucketPadding bucket_padding_;
  FirstShapes first_shapes_;
  bool warming_ = false;  // engine thread: first shapes seen now are warmup's
  std::atomic<bool> thread_optimizes_{true};  // getGraphExecutorOptimize() on the engine's thread
  // Launch -> AwaitWarm -> Start (or Join before Start: the thread gives up).
  std::mutex start_mutex_;
  std::condition_variable start_cv_;
  bool warm_done_ = false;
  Status warm_status_;
  bool go_ = false;
  bool abandon_ = false;
  Scheduler* scheduler_ = nullptr;
  CompletionSink* completions_ = nullptr;
  OpProfiler* profiler_ = nullptr;
  ProfilerThreadState profiler_state_;  // engine thread only
  int consecutive_device_errors_ = 0;  // the thread that finishes batches only
  bool taken_out_ = false;             // the thread that finishes batches only

  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> retried_{0};
  std::atomic<int64_t> busy_ns_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<uint64_t> padded_requests_{0};
  std::atomic<uint64_t> own_positions_{0};
  std::atomic<uint64_t> padded_positions_{0};
};

}  // namespace torchpool
