#pragma once
// Conversions between JavaScript values and the values a TorchScript forward takes and returns.
// Runs on the JS thread only, and copies nothing large there: input tensors are views of the
// caller's TypedArrays (kept alive by references until the request settles), and output tensors
// that own their memory become external ArrayBuffers.

#include <ATen/core/ivalue.h>
#include <napi.h>

#include <string>
#include <vector>

#include "engine/output_targets.h"
#include "engine/status.h"

namespace torchpool {

// `where` names the value in error messages, e.g. "inputs[1]" or "inputs.mask". References to
// the TypedArrays the tensors read from are appended to `holds` (napi_ref, as void*); release
// them with ReleaseInputRefs once the request is done.
Status JsToIValue(const Napi::Value& value, const std::string& where, c10::IValue* out,
                  std::vector<void*>* holds);

void ReleaseInputRefs(Napi::Env env, std::vector<void*>& holds);

// Outputs must already be host tensors (see engine/ivalue_tensors.h).
Status IValueToJs(Napi::Env env, const c10::IValue& value, Napi::Value* out);

// The `output` option of infer(): a TypedArray (the one tensor output) or an object of them by
// output name. The arrays are referenced in `holds` until the request settles.
Status JsToOutputTargets(Napi::Env env, const Napi::Value& value, std::vector<OutputTarget>* targets, std::vector<void*>* holds);

// Like IValueToJs, for an output whose tensors were written into the caller's arrays
// (`targets`, as JsToOutputTargets made them, referenced by `holds`): those tensors come back
// as { data: the caller's array, shape, dtype }.
Status OutputToJs(Napi::Env env, const c10::IValue& value, const std::vector<OutputTarget>& targets,
                  const std::vector<void*>& holds, Napi::Value* out);

}  // namespace torchpool
