#pragma once
// Picks the engine class for a device: the CPU engine, or the CUDA engine (own streams, pinned
// staging, pipelining, graphs) when the build has CUDA.

#include <memory>

#include "engine/engine.h"

namespace torchpool {

std::unique_ptr<Engine> MakeEngine(EngineConfig config, torch::jit::Module module);

}  // namespace torchpool
