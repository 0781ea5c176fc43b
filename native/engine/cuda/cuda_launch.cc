// CudaEngine's launch (engine thread, or load thread during warmup): a batch's inputs staged
// onto the device (padded up to a bucket), the forward queued on the compute stream (a CUDA graph
// replay when one was captured), and the copies of its outputs back to pinned memory queued
// behind it. The pipeline's slots and the completion thread are cuda_engine.cc.

#include <c10/core/InferenceMode.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include "engine/batching.h"
#include "engine/cuda/autocast_scope.h"
#include "engine/cuda/cuda_engine.h"
#include "engine/device_scope.h"
#include "engine/ivalue_tensors.h"
#include "engine/precision.h"

namespace torchpool {
namespace {

// The tensors of one argument position (or name) across a batch's members.
template <typename Pick>
std::vector<at::Tensor> Column(const std::vector<RequestPtr>& members, Pick pick) {
  std::vector<at::Tensor> parts;
  parts.reserve(members.size());
  for (const RequestPtr& m : members) parts.push_back(pick(*m).toTensor());
  return parts;
}

}  // namespace

c10::IValue CudaEngine::RunForward(std::vector<c10::IValue> args,
                                   std::unordered_map<std::string, c10::IValue> kwargs) {
  return TrackFirstShape(args, kwargs, [&] { return RunForwardOnce(std::move(args), std::move(kwargs)); });
}

c10::IValue CudaEngine::RunForwardOnce(std::vector<c10::IValue> args,
                                       std::unordered_map<std::string, c10::IValue> kwargs) {
  const bool autocast = config_.execution.precision == Precision::kAutocast;
  auto eager = [this, autocast](std::vector<c10::IValue> a) {
    AutocastScope scope(autocast);
    return runner_->Forward(std::move(a), {});
  };
  if (config_.execution.cuda_graphs) {
    std::vector<at::Tensor> tensors;
    for (const c10::IValue& arg : args) {
      if (!arg.isTensor()) break;
      tensors.push_back(arg.toTensor());
    }
    if (tensors.size() == args.size() && kwargs.empty()) {
      c10::IValue output;
      const char* why = nullptr;
      if (graphs_.Run(GraphCache::Key(tensors), tensors, eager, &output, &why)) return output;
      graphs_.CountEager(why);
      if (graphs_.disabled()) {
        std::lock_guard<std::mutex> lock(graphs_reason_mutex_);
        graphs_reason_ = graphs_.disabled_reason();
      }
    } else {
      graphs_.CountEager("inputs are not all positional tensors");
    }
  }
  if (!kwargs.empty()) {
    AutocastScope scope(autocast);
    return runner_->Forward(std::move(args), kwargs);
  }
  return eager(std::move(args));
}

Status CudaEngine::Launch(std::vector<RequestPtr>& members, Slot* slot, bool* unsplittable) {
  slot->started = Clock::now();
  slot->rows = 0;
  in_flight_.fetch_add(static_cast<int>(members.size()), std::memory_order_relaxed);
  const ExecutionOptions& options = config_.execution;
  // Outside the try: the failure path below touches CUDA too and must run on this device.
  DeviceScope device_scope(config_.device);
  try {
    c10::InferenceMode inference_mode;
    // Copy-in runs while the previous batch may still compute: that is the overlap we count.
    const bool previous_running = last_done_ != nullptr && cudaEventQuery(last_done_) == cudaErrorNotReady;
    if (previous_running) overlapped_.fetch_add(1, std::memory_order_relaxed);
    // With nothing of ours left on the device there is nothing to overlap: the copy-in goes on
    // the compute stream itself, which saves an event record, a stream wait and a record_stream
    // per request (what a lone small request pays for).
    const c10::cuda::CUDAStream& input_stream = previous_running ? copy_stream_ : compute_stream_;
    cudaGetLastError();
    std::vector<c10::IValue> args;
    std::unordered_map<std::string, c10::IValue> kwargs;
    // The rows this batch runs with: padded up to a bucket (batchBuckets), so that the device
    // only ever sees the warmed batch sizes.
    const int64_t rows = BatchRows(members);
    const int64_t padded = bucket_padding_.PaddedRows(rows);
    if (options.cuda_graphs && rows > 0 && bucket_padding_.has_buckets() && bucket_padding_.Bucket(rows) == 0) {
      graphs_.CountEager("batch larger than the largest bucket (batchBuckets)");
    }
    {
      c10::cuda::CUDAStreamGuard copy_guard(input_stream);
      auto to_device = [&](const std::vector<at::Tensor>& parts) {
        at::Tensor device = CastInput(staging_.ToDevice(parts, input_stream.stream(), &slot->buffers, padded), options);
        // Written on the copy stream, read on the compute stream: the allocator must not reuse
        // its memory before the compute stream is done with it.
        if (previous_running) device.record_stream(compute_stream_.unwrap());
        return device;
      };
      const Request& first = *members.front();
      if (members.size() == 1) {
        auto one = [&](const at::Tensor& t) { return to_device({t}); };
        for (const c10::IValue& arg : first.args) args.push_back(MapTensors(arg, one));
        for (const auto& [name, value] : first.kwargs) kwargs[name] = MapTensors(value, one);
      } else {
        // A merged batch: each tensor argument's rows go into one pinned block, then one copy.
        for (size_t i = 0; i < first.args.size(); ++i) {
          if (!first.args[i].isTensor()) {
            args.push_back(first.args[i]);
            continue;
          }
          args.emplace_back(to_device(Column(members, [i](const Request& r) -> const c10::IValue& { return r.args[i]; })));
        }
        for (const auto& [name, value] : first.kwargs) {
          if (!value.isTensor()) {
            kwargs[name] = value;
            continue;
          }
          const std::string key = name;
          kwargs[name] = to_device(Column(members, [&key](const Request& r) -> const c10::IValue& { return r.kwargs.at(key); }));
        }
      }
      if (previous_running) C10_CUDA_CHECK(cudaEventRecord(slot->inputs_ready, copy_stream_.stream()));
    }
    slot->staged = Clock::now();
    c10::cuda::CUDAStreamGuard compute_guard(compute_stream_);
    if (previous_running) C10_CUDA_CHECK(cudaStreamWaitEvent(compute_stream_.stream(), slot->inputs_ready, 0));
    c10::IValue output;
    if (padded > 0) {
      std::vector<c10::IValue> kept = args;  // the padded inputs, for an unpadded re-run
      output = RunForward(std::move(args), std::move(kwargs));
      if (!bucket_padding_.Unpad(&output, padded, rows)) {
        // Padding is only sound for a model whose rows are independent; this one's output is not
        // per row, so padding goes off for good and the batch runs again as it is.
        if (options.cuda_graphs) graphs_.CountEager(BucketPadding::kOff);
        for (c10::IValue& arg : kept) arg = arg.toTensor().narrow(0, 0, rows);
        output = RunForward(std::move(kept), {});
      }
    } else {
      output = RunForward(std::move(args), std::move(kwargs));
      bucket_padding_.NoteUnpadded(output, rows);
    }
    slot->forwarded = Clock::now();
    if (members.size() > 1) {
      std::vector<int64_t> rows;
      for (const RequestPtr& r : members) rows.push_back(r->rows);
      std::string why;
      if (!OutputKeepsRows(output, rows, &why)) {
        *unsplittable = true;
        throw std::runtime_error("the model's " + why + " (batching is now off for this pool)");
      }
    }
    slot->output = MapTensors(output, [&](const at::Tensor& t) {
      // An output the model put on another GPU: libtorch's cross-device copy orders it against
      // that device's stream and ours; a raw copy on our stream would race with its producer.
      const at::Tensor own = t.is_cuda() && t.get_device() != device_index_ ? t.to(config_.device) : t;
      return staging_.ToHost(CastOutput(own, options), compute_stream_.stream(), &slot->buffers);
    });
    C10_CUDA_CHECK(cudaEventRecord(slot->done, compute_stream_.stream()));
    slot->launched = Clock::now();
    // The estimate's key: rows as run. Members' rows are known for any batchable request, even
    // when BatchRows cannot pad it (a non-tensor argument).
    int64_t member_rows = 0;
    for (const RequestPtr& r : members) member_rows += r->rows;
    slot->rows = padded > rows ? padded : std::max(rows, member_rows);
    last_done_ = slot->done;
    return Status::Ok();
  } catch (...) {
    Status status = SummarizeForwardError(StatusFromCurrentException(ErrorCode::kForward));
    // Nothing here may throw: an exception from a handler would end the process.
    try {
      // Copies may have been queued from this slot's pinned blocks: wait for them before the
      // blocks are reused.
      cudaStreamSynchronize(copy_stream_.stream());
      cudaStreamSynchronize(compute_stream_.stream());
      cudaGetLastError();
      staging_.Release(&slot->buffers);
      slot->output = c10::IValue();
    } catch (...) {
    }
    // Out of memory: no emptyCache() here. It empties every GPU's cache and throws while any
    // engine captures a graph; the caching allocator already freed this device's cached blocks
    // and retried before it gave up, and the batch's members now run alone, in less memory.
    if (status.code() == ErrorCode::kOutOfMemory) out_of_memory_.fetch_add(1, std::memory_order_relaxed);
    in_flight_.fetch_sub(static_cast<int>(members.size()), std::memory_order_relaxed);
    return status;
  }
}

int64_t CudaEngine::BatchRows(const std::vector<RequestPtr>& members) const {
  // Rows are known for positional tensor arguments that all share dim 0 (what buckets pad).
  const Request& first = *members.front();
  if (!first.kwargs.empty() || first.args.empty()) return 0;
  for (const c10::IValue& arg : first.args) {
    if (!arg.isTensor() || arg.toTensor().dim() == 0) return 0;
  }
  if (members.size() > 1) {
    int64_t rows = 0;
    for (const RequestPtr& r : members) rows += r->rows;
    return rows;
  }
  const int64_t rows = first.args.front().toTensor().size(0);
  for (const c10::IValue& arg : first.args) {
    if (arg.toTensor().size(0) != rows) return 0;
  }
  return rows;
}

}  // namespace torchpool
