#pragma once
// A CUDA engine: one model replica on one GPU with its own streams, pinned staging and a
// pipeline of `pipelineDepth` batches.
//
// The engine thread takes a batch, stages its inputs through pinned memory onto the copy
// stream, makes the compute stream wait for them (an event, not a device sync), enqueues the
// forward (a CUDA graph replay when one was captured for the shape) and the copies of the
// outputs back into pinned memory, records a `done` event and goes back for the next batch. So
// the copy-in of batch k+1 runs while batch k computes. A completion thread waits for each
// `done` event in order, copies the outputs into memory JavaScript can own, releases the
// staging and hands the requests to the completion queue.

#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/cuda/busy_estimate.h"
#include "engine/cuda/cuda_graphs.h"
#include "engine/cuda/pinned_pool.h"
#include "engine/cuda/staging.h"
#include "engine/engine.h"

namespace torchpool {

class CudaEngine : public Engine {
 public:
  CudaEngine(EngineConfig config, std::unique_ptr<ModelRunner> runner);
  ~CudaEngine() override;

  Status Warmup() override;
  void Join() override;
  EngineStats Stats() const override;

 protected:
  void BeforeTake() override;
  void AfterQueueClosed() override;
  void RunBatch(std::vector<RequestPtr>& batch) override;

 private:
  // One batch in flight: its requests, events and the staging it holds until `done` fires.
  struct Slot {
    cudaEvent_t inputs_ready = nullptr;
    cudaEvent_t done = nullptr;
    std::vector<RequestPtr> batch;
    Status status;       // set when the launch failed: nothing to wait for
    StagedBuffers buffers;
    c10::IValue output;  // host tensors, possibly in pinned blocks until Complete
    int64_t rows = 0;    // rows as run (padding included); 0 when unknown
    Clock::time_point started, staged, forwarded, launched, completed;
  };

  // Engine (or load) thread: queues the whole batch on the streams. `unsplittable` is set when
  // a merged batch's output cannot be cut per request.
  Status Launch(std::vector<RequestPtr>& members, Slot* slot, bool* unsplittable);
  // The forward on the compute stream (a graph replay when one is captured), timed when its
  // shape is new to the engine.
  c10::IValue RunForward(std::vector<c10::IValue> args,
                         std::unordered_map<std::string, c10::IValue> kwargs);
  c10::IValue RunForwardOnce(std::vector<c10::IValue> args,
                             std::unordered_map<std::string, c10::IValue> kwargs);
  // Waits for the slot's event and gives the output in memory of its own; releases staging.
  Status Collect(Slot* slot, c10::IValue* output);
  void Complete(Slot* slot);  // completion thread
  void CompletionLoop();

  // cuda_warmup.cc: after the warmup runs, reserve the pinned blocks the warmed shapes need at
  // every batch size they can merge into, `pipelineDepth` deep.
  void ReserveStaging(const std::vector<int64_t>& input_row_bytes, const std::vector<int64_t>& output_row_bytes,
                      int64_t rows);

  // The rows of a batch whose positional tensor arguments share dim 0; 0 otherwise.
  int64_t BatchRows(const std::vector<RequestPtr>& members) const;

  Slot* AcquireSlot();  // blocks while pipelineDepth batches are in flight
  void Submit(Slot* slot);
  // `ran`: the slot's batch was launched and completed (Complete), so its times are real.
  void ReturnSlot(Slot* slot, bool ran = false);

  c10::DeviceIndex device_index_;
  c10::cuda::CUDAStream compute_stream_;
  c10::cuda::CUDAStream copy_stream_;
  PinnedPool pinned_;
  Staging staging_;
  GraphCache graphs_;
  cudaEvent_t last_done_ = nullptr;  // engine thread: the previous launch's event

  std::vector<std::unique_ptr<Slot>> slots_;
  mutable std::mutex slots_mutex_;
  std::condition_variable slot_freed_;
  std::condition_variable slot_submitted_;
  std::vector<Slot*> free_slots_;
  std::deque<Slot*> submitted_;
  BusyEstimate busy_;  // fillWhileBusy: when the device can take the next batch (slots_mutex_)
  bool hold_set_ = false;  // engine thread: the last SetHold was a hold (not cleared since)
  bool stopping_ = false;
  std::thread completion_thread_;
  Clock::time_point last_completed_;  // completion thread: busy time counts overlap once

  std::atomic<uint64_t> overlapped_{0};
  std::atomic<uint64_t> out_of_memory_{0};
  mutable std::mutex graphs_reason_mutex_;
  std::string graphs_reason_;
};

}  // namespace torchpool
