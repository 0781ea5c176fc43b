#pragma once
// Batch-size buckets (batchBuckets): a merged batch runs padded up to the smallest bucket that
// holds it, so an engine only ever sees a few, known batch sizes. Each can then be warmed at
// load (JIT specialisation, cuDNN plans, CUDA graph capture), and no request waits for a batch
// size seen for the first time. The padding rows are dropped from the outputs.
//
// Padding is sound only for a model whose output rows are its input rows. That is taken as
// shown once two unpadded runs of different row counts kept their rows (warming the buckets at
// load shows it); a padded run whose output does not keep its rows turns padding off for good.
// A single run can look per-row by chance (a column sum of 4 columns for a batch of 4).

#include <ATen/core/ivalue.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace torchpool {

class BucketPadding {
 public:
  explicit BucketPadding(std::vector<int64_t> buckets) : buckets_(std::move(buckets)) {}

  bool has_buckets() const { return !buckets_.empty(); }
  const std::vector<int64_t>& buckets() const { return buckets_; }
  // The smallest bucket that holds `rows`, or 0 when there is none (no buckets, or larger than
  // the largest).
  int64_t Bucket(int64_t rows) const;

  // Engine thread. The rows a batch of `rows` rows runs with: a bucket larger than `rows`, or 0
  // to run it as it is (no buckets, an exact bucket, padding off or not shown sound yet). Counts
  // batches larger than the largest bucket.
  int64_t PaddedRows(int64_t rows);
  // Engine thread, after an unpadded run of `rows` rows: learns whether the model keeps rows.
  void NoteUnpadded(const c10::IValue& output, int64_t rows);
  // Engine thread, after a padded run: true with `output` cut back to `rows` rows when every
  // output kept the padded rows; false when one did not (padding is off from now on: run the
  // batch again unpadded).
  bool Unpad(c10::IValue* output, int64_t padded, int64_t rows);

  bool allowed() const { return allowed_.load(std::memory_order_relaxed); }
  static constexpr const char* kOff = "padding off: the model's output does not keep the batch's rows";

  struct Stats {
    std::vector<int64_t> buckets;
    uint64_t padded_batches = 0;
    uint64_t padded_rows = 0;   // padding rows run (and dropped)
    uint64_t oversized = 0;     // batches larger than the largest bucket, run as they are
    std::string off_reason;     // set once padding was turned off
  };
  Stats Snapshot() const;  // any thread
  // After warmup: its runs are not the users'.
  void ResetCounts();

 private:
  void TurnOff();

  const std::vector<int64_t> buckets_;
  std::atomic<bool> allowed_{true};
  std::atomic<bool> verified_{false};
  int64_t rows_kept_once_ = 0;  // engine thread: the first row count seen kept, until verified
  std::atomic<uint64_t> padded_batches_{0};
  std::atomic<uint64_t> padded_rows_{0};
  std::atomic<uint64_t> oversized_{0};
};

// The inputs of a batch padded with zero rows up to `padded` rows (CPU engines; a CUDA engine
// pads while it stages the copy). Tensors whose dim 0 is not `rows` pass unchanged.
c10::IValue PadRows(const c10::IValue& value, int64_t rows, int64_t padded);

}  // namespace torchpool
