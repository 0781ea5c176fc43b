// CudaEngine::Warmup (the engine's thread, before it serves): runs the warmup shapes at every
// batch bucket through the real launch path, so the first user request pays no JIT profiling,
// cuDNN planning, graph capture or pinned allocation, and sizes the pinned pool for the batches
// those shapes merge into.

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
  // On the engine's own thread (Engine::Run), through the real launch path. Per batch size: two
  // runs (TorchScript optimises on the second; cuDNN has picked its plans for this thread by
  // then), and a third that captures the CUDA graph (cudaGraphs). With batch buckets every
  // bucket of each shape is run, so no request ever meets a batch size for the first time.
  const int runs_per_size = config_.execution.cuda_graphs ? 3 : 2;
  for (const WarmupShape& shape : config_.execution.warmup) {
    c10::IValue output;
    for (const WarmupShape& current : WarmupRuns(shape)) {
      for (int run = 0; run < runs_per_size; ++run) {
        std::vector<RequestPtr> members;
        members.push_back(std::make_unique<Request>());
        members.front()->args = WarmupInputs(current, c10::Device(c10::kCPU));
        members.front()->rows = current.shape.empty() ? 0 : current.shape.front();
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
    }
    // `output` is the last run's: the shape itself, or the largest bucket.
    const std::vector<WarmupShape> runs = WarmupRuns(shape);
    const int64_t rows = runs.back().shape.empty() ? 0 : runs.back().shape.front();
    if (rows > 0) {
      int64_t input_bytes = c10::elementSize(shape.dtype);
      for (size_t d = 1; d < shape.shape.size(); ++d) input_bytes *= shape.shape[d];
      std::vector<int64_t> output_row_bytes;
      RowBytes(output, rows, &output_row_bytes);
      const int64_t shape_rows = shape.shape.empty() ? 0 : shape.shape.front();
      if (shape_rows > 0) ReserveStaging({input_bytes}, output_row_bytes, shape_rows);
    }
  }
  // Stats count users' requests: warmup's eager runs before each capture are by design. A model
  // found not to keep its rows still says why its batches are not padded.
  graphs_.ResetCounts();
  if (config_.execution.cuda_graphs && !bucket_padding_.allowed()) graphs_.CountEager(BucketPadding::kOff);
  // libtorch 1.13 caches autocast's weight casts per thread: the engine thread keeps its own for
  // serving; nothing to drop here.
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
