#include "engine/engine_factory.h"

#ifdef TORCHPOOL_WITH_CUDA
#include "engine/cuda/cuda_engine.h"
#endif

namespace torchpool {

std::unique_ptr<Engine> MakeEngine(EngineConfig config, std::unique_ptr<ModelRunner> runner) {
#ifdef TORCHPOOL_WITH_CUDA
  if (config.device.is_cuda()) return std::make_unique<CudaEngine>(std::move(config), std::move(runner));
#endif
  // Without CUDA in the build, CheckDeviceAvailable refused CUDA devices before the load.
  return std::make_unique<Engine>(std::move(config), std::move(runner));
}

#ifndef TORCHPOOL_WITH_CUDA
Status CheckEnginePlan(const std::vector<EngineConfig>&) { return Status::Ok(); }
#endif

}  // namespace torchpool
