#include "engine/bucket_padding.h"

#include <ATen/ATen.h>

#include "engine/batching.h"
#include "engine/ivalue_tensors.h"

namespace torchpool {

int64_t BucketPadding::Bucket(int64_t rows) const {
  for (int64_t bucket : buckets_) {
    if (bucket >= rows) return bucket;
  }
  return 0;
}

int64_t BucketPadding::PaddedRows(int64_t rows) {
  if (buckets_.empty() || rows <= 0) return 0;
  const int64_t bucket = Bucket(rows);
  if (bucket == 0) {
    oversized_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  if (bucket == rows || !allowed() || !verified_.load(std::memory_order_relaxed)) return 0;
  return bucket;
}

void BucketPadding::NoteUnpadded(const c10::IValue& output, int64_t rows) {
  if (buckets_.empty() || !allowed() || verified_.load(std::memory_order_relaxed) || rows <= 0) return;
  if (!OutputKeepsRows(output, {rows}, nullptr)) {
    TurnOff();
  } else if (rows_kept_once_ == 0) {
    rows_kept_once_ = rows;
  } else if (rows_kept_once_ != rows) {
    verified_.store(true, std::memory_order_relaxed);
  }
}

bool BucketPadding::Unpad(c10::IValue* output, int64_t padded, int64_t rows) {
  if (!OutputKeepsRows(*output, {padded}, nullptr)) {
    TurnOff();
    return false;
  }
  *output = MapTensors(*output, [rows](const at::Tensor& t) { return t.narrow(0, 0, rows); });
  padded_batches_.fetch_add(1, std::memory_order_relaxed);
  padded_rows_.fetch_add(static_cast<uint64_t>(padded - rows), std::memory_order_relaxed);
  return true;
}

void BucketPadding::TurnOff() { allowed_.store(false, std::memory_order_relaxed); }

BucketPadding::Stats BucketPadding::Snapshot() const {
  Stats stats;
  stats.buckets = buckets_;
  stats.padded_batches = padded_batches_.load(std::memory_order_relaxed);
  stats.padded_rows = padded_rows_.load(std::memory_order_relaxed);
  stats.oversized = oversized_.load(std::memory_order_relaxed);
  if (!allowed()) stats.off_reason = kOff;
  return stats;
}

void BucketPadding::ResetCounts() {
  padded_batches_.store(0, std::memory_order_relaxed);
  padded_rows_.store(0, std::memory_order_relaxed);
  oversized_.store(0, std::memory_order_relaxed);
}

c10::IValue PadRows(const c10::IValue& value, int64_t rows, int64_t padded) {
  return MapTensors(value, [rows, padded](const at::Tensor& t) {
    if (t.dim() == 0 || t.size(0) != rows) return t;
    std::vector<int64_t> sizes = t.sizes().vec();
    sizes[0] = padded - rows;
    return at::cat({t, at::zeros(sizes, t.options())}, 0);
  });
}

}  // namespace torchpool
