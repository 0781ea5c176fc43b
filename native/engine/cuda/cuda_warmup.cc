// CudaEngine::Warmup (load thread): runs the warmup shapes through the real launch path, so the
// first user request pays no JIT profiling, cuDNN autotuning, graph capture or pinned
// allocation, and sizes the pinned pool for the batches those shapes merge into.

#include <c10/core/InferenceMode.h>

#include <map>

#include "engine/cuda/autocast_scope.h"
#include "engine/cuda/cuda_engine.h"
#include "engine/device_scope.h"

namespace torchpool {
namespace {

// Bytes per row of every tensor in `value` whose dim 0 is `rows`.
void RowBytes(const c10::IValue& value, int64_t rows, std::vector<int64_t>* out) {
  if (value.isTensor()) {
    const at::Tensor& t = value.toTensor();
    if (t.dim() > 0 && t.size(0) == rows && rows > 0) out->push_back(static_cast<int64_t>(t.nbytes()) / rows);
  } else if (value.isTuple()) {
    for (const c10::IValue& item : value.toTupleRef().elements()) RowBytes(item, rows, out);
  } else if (value.isList()) {
    for (const c10::IValue& item : value.toList()) RowBytes(item, rows, out);
  } else if (value.isGenericDict()) {
    for (const auto& entry : value.toGenericDict()) RowBytes(entry.value(), rows, out);
  }
}

}  // namespace

Status CudaEngine::Warmup() {
  DeviceScope device_scope(config_.device);
  // Three runs per shape: TorchScript optimises on the second, a CUDA graph is captured on the
  // third (cudaGraphs), and cuDNN has picked its algorithms by then.
  for (const WarmupShape& shape : config_.execution.warmup) {
    // With graph buckets, each bucket of this shape is captured now (dim 0 = the bucket), so
    // that no request ever waits for a capture.
    std::vector<WarmupShape> runs;
    if (config_.execution.cuda_graphs && graphs_.has_buckets() && !shape.shape.empty()) {
      for (int64_t bucket : graphs_.buckets()) {
        WarmupShape sized = shape;
        sized.shape[0] = bucket;
        runs.push_back(std::move(sized));
      }
    }
    runs.push_back(shape);
    c10::IValue output;
    for (size_t run = 0; run < 3 * runs.size(); ++run) {
      const WarmupShape& current = runs[run / 3];
      std::vector<RequestPtr> members;
      members.push_back(std::make_unique<Request>());
      members.front()->args = WarmupInputs(current, c10::Device(c10::kCPU));
      Slot* slot = AcquireSlot();
      bool unsplittable = false;
      Status status = Launch(members, slot, &unsplittable);
      if (status.ok()) {
        status = Collect(slot, &output);
        in_flight_.fetch_sub(1, std::memory_order_relaxed);
      }
      ReturnSlot(slot);
      if (!status.ok()) return Status(status.code(), "warmup failed: " + status.message());
    }
    const int64_t rows = shape.shape.empty() ? 0 : shape.shape.front();
    if (rows > 0) {
      int64_t input_bytes = c10::elementSize(shape.dtype);
      for (int64_t d : shape.shape) input_bytes *= d;
      std::vector<int64_t> output_row_bytes;
      RowBytes(output, rows, &output_row_bytes);
      ReserveStaging({input_bytes / rows}, output_row_bytes, rows);
    }
  }
  // Stats count users' requests: warmup's eager runs before each capture are by design. A model
  // found not to keep its rows still says why its batches are not padded.
  graphs_.ResetCounts();
  if (!padding_allowed_.load(std::memory_order_relaxed)) graphs_.CountEager(kPaddingOff);
  // libtorch 1.13 caches autocast's weight casts per thread; this (load) thread is not the
  // engine's, so its copies would stay for the life of the process.
  ClearAutocastCache(config_.execution.precision == Precision::kAutocast);
  return Status::Ok();
}

void CudaEngine::ReserveStaging(const std::vector<int64_t>& input_row_bytes,
                                const std::vector<int64_t>& output_row_bytes, int64_t rows) {
  // A merged batch of k requests of this shape has k * rows rows and takes one pinned block per
  // input and per output tensor; `pipelineDepth` batches are in flight at once. Count the
  // blocks each size class needs at the worst batch size, then reserve the small classes first
  // (they are the common ones) while the pool's limit allows.
  std::map<size_t, size_t> needed;
  const int64_t largest = std::max(rows, config_.max_batch_rows);
  for (int64_t batch_rows = rows; batch_rows <= largest && batch_rows <= rows * 65536; batch_rows += rows) {
    std::map<size_t, size_t> in_one_batch;
    for (int64_t bytes : input_row_bytes) ++in_one_batch[PinnedPool::SizeClass(static_cast<size_t>(bytes * batch_rows))];
    for (int64_t bytes : output_row_bytes) ++in_one_batch[PinnedPool::SizeClass(static_cast<size_t>(bytes * batch_rows))];
    for (const auto& [size, count] : in_one_batch) needed[size] = std::max(needed[size], count);
  }
  for (const auto& [size, count] : needed) {
    if (!pinned_.Reserve(size, count * slots_.size())) break;
  }
}

}  // namespace torchpool
