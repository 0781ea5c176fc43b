#include "engine/engine_factory.h"

#ifdef TORCHPOOL_WITH_CUDA
#include "engine/cuda/cuda_engine.h"
#endif

namespace torchpool {

std::unique_ptr<Engine> MakeEngine(EngineConfig config, torch::jit::Module module) {
#ifdef TORCHPOOL_WITH_CUDA
  if (config.device.is_cuda()) return std::make_unique<CudaEngine>(std::move(config), std::move(module));
#endif
  // Without CUDA in the build, CheckDeviceAvailable refused CUDA devices before the load.
  return std::make_unique<Engine>(std::move(config), std::move(module));
}

#ifndef TORCHPOOL_WITH_CUDA
Status CheckEnginePlan(const std::vector<EngineConfig>&) { return Status::Ok(); }
#endif

}  // namespace torchpool
