#include "engine/engine.h"

#include <ATen/Parallel.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/InferenceMode.h>

#include "engine/ivalue_tensors.h"

namespace torchpool {
namespace {

// TorchScript errors are a long traceback whose last line is the actual error; put that line
// first so that logs and `error.message.split('\n')[0]` show what went wrong.
Status SummarizeForwardError(Status status) {
  const std::string& message = status.message();
  size_t end = message.find_last_not_of("\n ");
  if (end == std::string::npos) return status;
  size_t start = message.rfind('\n', end);
  if (start == std::string::npos) return status;  // already one line
  std::string last = message.substr(start + 1, end - start);
  return Status(status.code(), last + "\n\n" + message);
}

}  // namespace

Engine::Engine(EngineConfig config, torch::jit::Module module)
    : config_(std::move(config)), module_(std::move(module)), forward_(module_.get_method("forward")) {}

Engine::~Engine() { Join(); }

void Engine::Start(WorkQueue* queue, CompletionQueue* completions) {
  thread_ = std::thread([this, queue, completions] { Run(queue, completions); });
}

void Engine::Join() {
  if (thread_.joinable()) thread_.join();
}

void Engine::Run(WorkQueue* queue, CompletionQueue* completions) {
  // OpenMP thread counts are per OS thread, so each engine sets its own.
  at::init_num_threads();
  at::set_num_threads(config_.intra_op_threads);
  while (RequestPtr request = queue->Pop()) {
    busy_.store(true, std::memory_order_relaxed);
    Execute(*request);
    busy_ns_.fetch_add(
        std::chrono::duration_cast<std::chrono::nanoseconds>(request->finished - request->started)
            .count(),
        std::memory_order_relaxed);
    requests_.fetch_add(1, std::memory_order_relaxed);
    if (!request->status.ok()) failures_.fetch_add(1, std::memory_order_relaxed);
    busy_.store(false, std::memory_order_relaxed);
    completions->Push(std::move(request));
  }
}

void Engine::Execute(Request& request) {
  request.engine = config_.index;
  request.started = Clock::now();
  try {
    c10::InferenceMode inference_mode;
    c10::DeviceGuard device_guard(config_.device);
    if (!config_.device.is_cpu()) {
      const c10::Device device = config_.device;
      auto to_device = [&device](const at::Tensor& t) { return t.to(device); };
      for (auto& arg : request.args) arg = MapTensors(arg, to_device);
      for (auto& [name, value] : request.kwargs) value = MapTensors(value, to_device);
    }
    c10::IValue output = forward_(std::move(request.args), request.kwargs);
    request.output = MapTensors(output, ToHostTensor);
    request.status = Status::Ok();
  } catch (...) {
    request.status = SummarizeForwardError(StatusFromCurrentException(ErrorCode::kForward));
  }
  request.args.clear();
  request.kwargs.clear();
  request.finished = Clock::now();
}

EngineStats Engine::Stats() const {
  return EngineStats{config_.index,
                     config_.device.str(),
                     config_.intra_op_threads,
                     requests_.load(std::memory_order_relaxed),
                     failures_.load(std::memory_order_relaxed),
                     busy_ns_.load(std::memory_order_relaxed) / 1e6,
                     busy_.load(std::memory_order_relaxed)};
}

}  // namespace torchpool
