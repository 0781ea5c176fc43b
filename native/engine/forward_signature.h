#pragma once
// The model's forward() schema, used on the JS thread to reject inputs that cannot match
// (too many, unknown names, missing ones) before they queue, and to pass a JS number to a
// `float` argument as a double even when it happens to be integral.

#include <ATen/core/function_schema.h>
#include <ATen/core/ivalue.h>

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/status.h"

namespace torchpool {

struct ForwardArgument {
  std::string name;
  std::string type;
  bool has_default;
};

class ForwardSignature {
 public:
  ForwardSignature() = default;
  // A TorchScript forward.
  explicit ForwardSignature(const c10::FunctionSchema& schema);
  // A compiled model (AOTInductor): tensors by position only; `unknown_arity` when the package
  // does not say how many inputs it takes (then any number passes here, and the model checks).
  ForwardSignature(std::vector<ForwardArgument> arguments, std::string return_type, bool positional_only,
                   bool unknown_arity);

  Status Prepare(std::vector<c10::IValue>& args,
                 std::unordered_map<std::string, c10::IValue>& kwargs) const;

  const std::vector<ForwardArgument>& arguments() const { return arguments_; }
  const std::string& return_type() const { return return_type_; }
  // What a compiled package says about itself (AOTI_DEVICE_KEY, ...); empty for TorchScript.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  void set_metadata(std::map<std::string, std::string> metadata) { metadata_ = std::move(metadata); }
  // "torchscript" or "aoti": what kind of model this is the signature of.
  const std::string& format() const { return format_; }
  void set_format(std::string format) { format_ = std::move(format); }
  // The model runs libtorch's quantized operators (INT8): CPU engines only.
  bool quantized() const { return quantized_; }
  void set_quantized(bool quantized) { quantized_ = quantized; }

 private:
  void CoerceNumber(size_t index, c10::IValue& value) const;
  std::string ArgumentList() const;

  std::vector<ForwardArgument> arguments_;  // without `self`
  std::vector<bool> wants_float_;
  std::string return_type_;
  bool positional_only_ = false;
  bool unknown_arity_ = false;
  std::map<std::string, std::string> metadata_;
  std::string format_ = "torchscript";
  bool quantized_ = false;
};

}  // namespace torchpool
