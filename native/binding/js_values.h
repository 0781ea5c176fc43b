#pragma once
// Conversions between JavaScript values and the values a TorchScript forward takes and returns.
// Runs on the JS thread only. Inputs are copied out of their TypedArrays here, so the caller may
// reuse its buffers as soon as infer() returns.

#include <ATen/core/ivalue.h>
#include <napi.h>

#include <string>

#include "engine/status.h"

namespace torchpool {

// `where` names the value in error messages, e.g. "inputs[1]" or "inputs.mask".
Status JsToIValue(const Napi::Value& value, const std::string& where, c10::IValue* out);

// Outputs must already be host tensors (see engine/ivalue_tensors.h).
Status IValueToJs(Napi::Env env, const c10::IValue& value, Napi::Value* out);

}  // namespace torchpool
