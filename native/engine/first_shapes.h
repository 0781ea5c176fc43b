#pragma once
// Forwards that ran an input shape for the first time on an engine. The first forward of a new
// shape is where first-time costs fall: TorchScript's profiling executor profiles and compiles
// fused kernels for it, cuDNN picks its plans (kept per thread and exact size), a CUDA graph is
// captured. Warmup runs them at load; what still happens under traffic is counted and timed here
// and shown in stats().engines[i].firstShapes, so a stall in production can be traced to it.

#include <ATen/core/ivalue.h>

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/request.h"

namespace torchpool {

// "float32[8,3,224,224]" per tensor argument, in order (keyword arguments by name).
std::string InputShapeKey(const std::vector<c10::IValue>& args,
                          const std::unordered_map<std::string, c10::IValue>& kwargs);

class FirstShapes {
 public:
  // Engine thread: whether `key` is run for the first time on this engine (and now known).
  bool IsNew(const std::string& key);
  // Engine thread: a first-time forward of `key` took `ms` (warmup: at load, not counted).
  void Record(const std::string& key, double ms, bool warmup);
  // Load: how long the engine's warmup took.
  void SetWarmupMs(double ms);

  struct Stats {
    uint64_t forwards = 0;  // first-time forwards under traffic
    double total_ms = 0;
    double max_ms = 0;
    std::vector<std::pair<std::string, double>> recent;  // the latest, oldest first
    uint64_t known = 0;     // shapes this engine has run
    std::vector<std::string> warmed;  // shapes run at load
    double warmup_ms = 0;
  };
  Stats Snapshot() const;  // any thread

 private:
  static constexpr size_t kRecent = 8;
  // Beyond this many shapes (a stream of odd sizes) new ones are still counted, not remembered.
  static constexpr size_t kMaxKnown = 4096;
  std::unordered_set<std::string> known_;  // engine thread only
  mutable std::mutex mutex_;
  uint64_t forwards_ = 0;
  uint64_t known_count_ = 0;
  double total_ms_ = 0;
  double max_ms_ = 0;
  std::deque<std::pair<std::string, double>> recent_;
  std::vector<std::string> warmed_;
  double warmup_ms_ = 0;
};

}  // namespace torchpool
