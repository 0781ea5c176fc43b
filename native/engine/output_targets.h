#pragma once
// Outputs into the caller's memory (`pool.infer(inputs, { output })`): the request carries where
// each output tensor goes (a TypedArray's memory, by output name), and the thread that finishes
// the request copies each output there once it is on the host and split from its batch. The JS
// thread then only wraps the caller's array: no new memory per request.
//
// Output names: a lone tensor is "" (the option is a TypedArray); the items of a returned tuple or
// list are "output__0", "output__1", ... (as `torchpool serve` names them); a dict's are its keys.

#include <ATen/core/ivalue.h>

#include <string>
#include <vector>

#include "engine/status.h"

namespace torchpool {

struct OutputTarget {
  std::string name;
  void* data = nullptr;
  size_t bytes = 0;
  // The dtypes the array can hold: a Uint8Array takes uint8 or bool, a Uint16Array float16.
  c10::ScalarType dtype = c10::kFloat;
  bool or_bool = false;
  std::string array;  // "Float32Array", for messages
};

// Copies each top-level output tensor that has a target into it. INVALID_ARG, with nothing
// written, when a target's name is not an output, or its array does not fit (dtype, length).
Status WriteOutputTargets(const c10::IValue& output, const std::vector<OutputTarget>& targets);

// The name of each top-level tensor of `output` as targets know it, in order.
std::vector<std::pair<std::string, at::Tensor>> NamedOutputTensors(const c10::IValue& output);

}  // namespace torchpool
