#include "engine/forward_signature.h"

#include <ATen/core/jit_type.h>

namespace torchpool {

ForwardSignature::ForwardSignature(const c10::FunctionSchema& schema) {
  const auto& args = schema.arguments();
  for (size_t i = 0; i < args.size(); ++i) {
    if (i == 0 && args[i].name() == "self") continue;
    arguments_.push_back({args[i].name(), args[i].type()->annotation_str(),
                          args[i].default_value().has_value()});
    wants_float_.push_back(args[i].type()->kind() == c10::TypeKind::FloatType);
  }
  const auto& returns = schema.returns();
  return_type_ = returns.size() == 1 ? returns[0].type()->annotation_str() : "None";
}

ForwardSignature::ForwardSignature(std::vector<ForwardArgument> arguments, std::string return_type,
                                   bool positional_only, bool unknown_arity)
    : arguments_(std::move(arguments)),
      wants_float_(arguments_.size(), false),
      return_type_(std::move(return_type)),
      positional_only_(positional_only),
      unknown_arity_(unknown_arity) {}

std::string ForwardSignature::ArgumentList() const {
  std::string list;
  for (const auto& arg : arguments_) {
    if (!list.empty()) list += ", ";
    list += arg.name + ": " + arg.type;
  }
  return "forward(" + list + ")";
}

void ForwardSignature::CoerceNumber(size_t index, c10::IValue& value) const {
  if (wants_float_[index] && value.isInt()) value = static_cast<double>(value.toInt());
}

Status ForwardSignature::Prepare(std::vector<c10::IValue>& args,
                                 std::unordered_map<std::string, c10::IValue>& kwargs) const {
  if (positional_only_ && !kwargs.empty()) {
    return Status(ErrorCode::kInvalidArg, "inputs." + kwargs.begin()->first +
                                              ": this model takes its inputs by position only (an AOTInductor "
                                              "package has no argument names): pass an array");
  }
  if (unknown_arity_) return Status::Ok();
  if (args.size() > arguments_.size()) {
    return Status(ErrorCode::kInvalidArg,
                  "the model's " + ArgumentList() + " takes " + std::to_string(arguments_.size()) +
                      " input(s) but received " + std::to_string(args.size()));
  }
  for (size_t i = 0; i < args.size(); ++i) CoerceNumber(i, args[i]);
  for (auto& [name, value] : kwargs) {
    size_t index = 0;
    while (index < arguments_.size() && arguments_[index].name != name) ++index;
    if (index == arguments_.size()) {
      return Status(ErrorCode::kInvalidArg, "inputs." + name + ": the model's " + ArgumentList() +
                                                " has no argument named '" + name + "'");
    }
    if (index < args.size()) {
      return Status(ErrorCode::kInvalidArg,
                    "inputs." + name + " was given both by position and by name");
    }
    CoerceNumber(index, value);
  }
  // Named inputs that continue the positional ones become positional (forward binds them the
  // same): batch buckets, CUDA graphs and padding then see them by position.
  while (!kwargs.empty() && args.size() < arguments_.size()) {
    auto it = kwargs.find(arguments_[args.size()].name);
    if (it == kwargs.end()) break;
    args.push_back(std::move(it->second));
    kwargs.erase(it);
  }
  for (size_t i = args.size(); i < arguments_.size(); ++i) {
    if (!arguments_[i].has_default && kwargs.find(arguments_[i].name) == kwargs.end()) {
      return Status(ErrorCode::kInvalidArg, "missing input '" + arguments_[i].name +
                                                "' for the model's " + ArgumentList());
    }
  }
  return Status::Ok();
}

}  // namespace torchpool
