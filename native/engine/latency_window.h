#pragma once
// The latencies of the most recent requests, for the percentiles in pool.stats(). Written and
// read on the JS thread only (requests are recorded when their promise settles), so no lock.

#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

namespace torchpool {

struct Percentiles {
  double p50 = 0, p95 = 0, p99 = 0;
  size_t count = 0;
};

class LatencyWindow {
 public:
  static constexpr size_t kCapacity = 2048;

  void Add(double value) {
    samples_[next_ % kCapacity] = value;
    ++next_;
  }

  Percentiles Summarize() const {
    Percentiles p;
    p.count = std::min(next_, kCapacity);
    if (p.count == 0) return p;
    // Three selections, each in the part above the previous one: O(n), not a full sort, so
    // stats() stays cheap with many engines.
    std::vector<double> v(samples_.begin(), samples_.begin() + p.count);
    auto select = [&](double q, size_t from) {
      size_t k = std::max(from, static_cast<size_t>(q * (p.count - 1) + 0.5));
      std::nth_element(v.begin() + from, v.begin() + k, v.end());
      return k;
    };
    size_t k50 = select(0.50, 0);
    size_t k95 = select(0.95, k50);
    size_t k99 = select(0.99, k95);
    p.p50 = v[k50];
    p.p95 = v[k95];
    p.p99 = v[k99];
    return p;
  }

 private:
  std::array<double, kCapacity> samples_{};
  size_t next_ = 0;
};

// Queue wait, compute and total (enqueue to settle) of the same requests, in milliseconds.
struct LatencySet {
  LatencyWindow queue, compute, total;
};

}  // namespace torchpool
