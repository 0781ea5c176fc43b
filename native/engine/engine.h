#pragma once
// An engine is one model replica on one device with the native thread that runs its forwards.
// Engines take work from the shared Scheduler (one request, or a batch of compatible ones) and
// push results to the CompletionQueue; they never touch JavaScript values.

#include <torch/script.h>

#include <atomic>
#include <string>
#include <thread>

#include "engine/completion_queue.h"
#include "engine/scheduler.h"

namespace torchpool {

struct EngineConfig {
  int index = 0;
  int instance = 0;  // which replica on its device (instancesPerDevice)
  c10::Device device = c10::Device(c10::kCPU);
  int intra_op_threads = 1;
  int unhealthy_after = 3;  // consecutive device errors that take the engine out; 0: never
};

struct EngineStats {
  int index;
  int instance;
  std::string device;
  int threads;
  uint64_t requests;
  uint64_t batches;   // forwards run for work taken from the queue (a batch counts once)
  uint64_t failures;
  uint64_t retried;   // requests re-run alone after their batch failed
  double busy_ms;
  int in_flight;      // requests in the forward running now
};

class Engine {
 public:
  Engine(EngineConfig config, torch::jit::Module module);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void Start(Scheduler* scheduler, CompletionQueue* completions);
  // Returns once the thread has finished its current forward and left the scheduler.
  void Join();

  EngineStats Stats() const;
  const EngineConfig& config() const { return config_; }

 private:
  void Run();
  void RunBatch(std::vector<RequestPtr>& batch);
  void Execute(Request& request);
  Status Forward(std::vector<c10::IValue> args, std::unordered_map<std::string, c10::IValue> kwargs,
                 c10::IValue* output);
  void RecordHealth(Request& request);

  EngineConfig config_;
  torch::jit::Module module_;
  torch::jit::Method forward_;  // looked up once, not per request
  std::thread thread_;
  Scheduler* scheduler_ = nullptr;
  CompletionQueue* completions_ = nullptr;
  int consecutive_device_errors_ = 0;  // engine thread only
  bool taken_out_ = false;             // engine thread only

  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> retried_{0};
  std::atomic<int64_t> busy_ns_{0};
  std::atomic<int> in_flight_{0};
};

}  // namespace torchpool
