#pragma once
// An engine is one model replica on one device with the native thread that runs its forwards.
// Engines pull from the shared WorkQueue and push results to the CompletionQueue; they never
// touch JavaScript values.

#include <torch/script.h>

#include <atomic>
#include <string>
#include <thread>

#include "engine/completion_queue.h"
#include "engine/work_queue.h"

namespace torchpool {

struct EngineConfig {
  int index = 0;
  c10::Device device = c10::Device(c10::kCPU);
  int intra_op_threads = 1;
};

struct EngineStats {
  int index;
  std::string device;
  int threads;
  uint64_t requests;
  uint64_t failures;
  double busy_ms;
  bool busy;
};

class Engine {
 public:
  Engine(EngineConfig config, torch::jit::Module module);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void Start(WorkQueue* queue, CompletionQueue* completions);
  // Returns once the thread has finished its current forward and seen the queue closed.
  void Join();

  EngineStats Stats() const;

 private:
  void Run(WorkQueue* queue, CompletionQueue* completions);
  void Execute(Request& request);

  EngineConfig config_;
  torch::jit::Module module_;
  torch::jit::Method forward_;  // looked up once, not per request
  std::thread thread_;

  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<int64_t> busy_ns_{0};
  std::atomic<bool> busy_{false};
};

}  // namespace torchpool
