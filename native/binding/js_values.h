#pragma once
// Conversions between JavaScript values and the values a TorchScript forward takes and returns.
// Runs on the JS thread only, and copies nothing large there: input tensors are views of the
// caller's TypedArrays (kept alive by references until the request settles), and output tensors
// that own their memory become external ArrayBuffers.

#include <ATen/core/ivalue.h>
#include <napi.h>

#include <string>
#include <vector>

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

}  // namespace torchpool
