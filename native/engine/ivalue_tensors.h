#pragma once
// Walks the values a TorchScript forward takes or returns (tensors, lists, tuples, dicts) and
// rebuilds them with each tensor replaced: used to move inputs to an engine's device and
// outputs back to contiguous host memory.

#include <ATen/core/ivalue.h>

#include <functional>

namespace torchpool {

using TensorFn = std::function<at::Tensor(const at::Tensor&)>;

c10::IValue MapTensors(const c10::IValue& value, const TensorFn& fn);

// Output tensors the JS side can represent: on the CPU, contiguous, and of a dtype with a
// TypedArray. bfloat16 becomes float32; other unsupported dtypes throw with a clear message.
at::Tensor ToHostTensor(const at::Tensor& tensor);

}  // namespace torchpool
