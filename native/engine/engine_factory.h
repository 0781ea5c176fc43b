#pragma once
// Picks the engine class for a device: the CPU engine, or the CUDA engine (own streams, pinned
// staging, pipelining, graphs) when the build has CUDA.

#include <memory>
#include <vector>

#include "engine/engine.h"

namespace torchpool {

std::unique_ptr<Engine> MakeEngine(EngineConfig config, std::unique_ptr<ModelRunner> runner);

// Refuses, before anything loads, a plan this libtorch cannot run safely: CUDA graphs on
// libtorch before 2.1 capture process-wide (not per thread), so while one engine captures,
// every other CUDA engine's allocations and event queries fail. There, cudaGraphs needs its
// engine to be the only CUDA engine in the process.
Status CheckEnginePlan(const std::vector<EngineConfig>& engines);

}  // namespace torchpool
