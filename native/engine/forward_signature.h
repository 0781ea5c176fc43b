#pragma once
// The model's forward() schema, used on the JS thread to reject inputs that cannot match
// (too many, unknown names, missing ones) before they queue, and to pass a JS number to a
// `float` argument as a double even when it happens to be integral.

#include <ATen/core/function_schema.h>
#include <ATen/core/ivalue.h>

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
  explicit ForwardSignature(const c10::FunctionSchema& schema);

  Status Prepare(std::vector<c10::IValue>& args,
                 std::unordered_map<std::string, c10::IValue>& kwargs) const;

  const std::vector<ForwardArgument>& arguments() const { return arguments_; }
  const std::string& return_type() const { return return_type_; }

 private:
  void CoerceNumber(size_t index, c10::IValue& value) const;
  std::string ArgumentList() const;

  std::vector<ForwardArgument> arguments_;  // without `self`
  std::vector<bool> wants_float_;
  std::string return_type_;
};

}  // namespace torchpool
