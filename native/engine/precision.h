#pragma once
// Precision and layout, shared by CPU and CUDA engines: weights are cast once at load, float
// inputs are cast after they reach the device (so a copy moves half-size data when the caller
// already sends half), and floating outputs come back as `outputDtype` asks.

#include <torch/script.h>

#include "engine/execution_options.h"
#include "engine/status.h"

namespace torchpool {

// The dtype weights and float inputs are cast to; Undefined for fp32 and autocast.
c10::ScalarType ComputeDtype(Precision precision);

// Casts the replica's floating weights (fp16/bf16) and lays 4-d weights out channels-last.
// Runs before freezing, so the folded constants are already in the right dtype and layout.
Status PrepareModule(torch::jit::Module* module, const ExecutionOptions& options);

// A floating input cast to the compute dtype; 4-d inputs made channels-last when asked.
at::Tensor CastInput(const at::Tensor& tensor, const ExecutionOptions& options);

// A floating output in the dtype `options.output_dtype` asks for.
at::Tensor CastOutput(const at::Tensor& tensor, const ExecutionOptions& options);

const char* PrecisionName(Precision precision);

}  // namespace torchpool
