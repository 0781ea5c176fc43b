#pragma once
// Conversions between JavaScript values and the values a TorchScript forward takes and returns.
// Runs on the JS thread only, and copies nothing large there: input tensors are views of the
// caller's TypedArrays, and output tensors that own their memory become external ArrayBuffers.

#include <ATen/core/ivalue.h>
#include <napi.h>

#include <string>
#include <vector>

#include "engine/output_targets.h"
#include "engine/status.h"

namespace torchpool {

// Names a value in error messages ("inputs[1]", "inputs.mask[0]"). The string is only built
// when there is an error to report: a request's inputs are parsed without allocating names.
class ValuePath {
 public:
  explicit ValuePath(const char* root) : root_(root) {}
  ValuePath(const ValuePath* parent, uint32_t index) : parent_(parent), index_(index) {}
  ValuePath(const ValuePath* parent, const std::string* name) : parent_(parent), name_(name) {}
  std::string str() const;

 private:
  const char* root_ = "";
  const ValuePath* parent_ = nullptr;
  uint32_t index_ = 0;
  const std::string* name_ = nullptr;
};

// Tensors are views of the caller's TypedArrays, not copies: whoever calls this keeps those
// arrays alive (and the caller unchanged) while the tensors are in use.
Status JsToIValue(const Napi::Value& value, const ValuePath& where, c10::IValue* out);

// A tensor given in parts (lib/submissions.ts): `data` a TypedArray, `dtype_index` into kDtypes
// or -1 for the array's own, and the shape. Checked as JsToIValue checks a { data, shape, dtype }.
Status TensorFromFlat(Napi::Env env, const Napi::Value& data, int dtype_index, const double* dims,
                      size_t ndim, const ValuePath& where, c10::IValue* out);

// Deletes the references in `holds` (napi_ref, as void*).
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
