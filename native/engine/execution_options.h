#pragma once
// How an engine runs its forwards: precision, memory layout and, on CUDA devices, the pipeline,
// pinned staging and CUDA graphs. Plain data, filled from the pool options on the JS thread.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <c10/core/ScalarType.h>

#include "engine/padding.h"

namespace torchpool {

enum class Precision { kFp32, kFp16, kBf16, kAutocast };
enum class OutputDtype { kFloat32, kFloat16, kModel };

// One warmup input: run at load so the first user request pays no cuDNN autotuning, JIT
// profiling or graph capture.
struct WarmupTensor {
  std::vector<int64_t> shape;
  c10::ScalarType dtype = c10::kFloat;
};
struct WarmupShape {
  std::vector<int64_t> shape;  // forward's first argument
  c10::ScalarType dtype = c10::kFloat;
  std::vector<WarmupTensor> rest;  // its next arguments, in order (named warmup inputs, resolved at load)
  std::vector<std::pair<std::string, WarmupTensor>> named;  // as given, until resolved
};

struct ExecutionOptions {
  Precision precision = Precision::kFp32;
  OutputDtype output_dtype = OutputDtype::kFloat32;
  bool channels_last = false;
  std::vector<WarmupShape> warmup;
  // CUDA engines only.
  int pipeline_depth = 2;                       // batches in flight per engine
  // A partial batch keeps filling while the engine's previous batch still runs (BusyEstimate).
  bool fill_while_busy = true;
  size_t pinned_memory_bytes = size_t{256} << 20;  // per engine; 0: pageable copies only
  bool cuda_graphs = false;
  int max_cuda_graphs = 8;                      // captured shapes per engine
  // Batch sizes (ascending) a merged batch is padded up to (BucketPadding), eager or graph:
  // warmed at load, captured as graphs with cudaGraphs. Empty: batches run at their own size.
  std::vector<int64_t> batch_buckets;
  // TorchScript's graph executor optimisations on the engine's thread (thread-local in
  // libtorch: setGraphExecutorOptimize). Off: no profiling, fusion or re-specialisation.
  bool optimized_execution = true;
  // `padding`: inputs padded to one length within a batch (positions resolved at load).
  PaddingSpec padding;
};

}  // namespace torchpool
