#include "engine/padding.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <set>

#include "engine/forward_signature.h"
#include "engine/ivalue_tensors.h"

namespace torchpool {

const PaddedInput* PaddingSpec::Find(int position, const std::string& name) const {
  for (const PaddedInput& input : inputs) {
    if ((position >= 0 && input.position == position) || (!name.empty() && input.name == name)) return &input;
  }
  return nullptr;
}

int64_t PaddingSpec::Bucket(int64_t length) const {
  for (int64_t bucket : buckets) {
    if (bucket >= length) return bucket;
  }
  return 0;
}

Status ResolvePadding(PaddingSpec* spec, const ForwardSignature& signature) {
  const auto& arguments = signature.arguments();
  for (PaddedInput& input : spec->inputs) {
    input.position = -1;
    for (size_t i = 0; i < arguments.size(); ++i) {
      if (arguments[i].name == input.name) input.position = static_cast<int>(i);
    }
    if (input.position < 0) {
      std::string names;
      for (const auto& a : arguments) names += (names.empty() ? "'" : ", '") + a.name + "'";
      return Status(ErrorCode::kInvalidArg, "options.padding." + input.name + ": the model's forward has no input named '" + input.name +
                                               "' (its inputs are " + names + ")");
    }
  }
  return Status::Ok();
}

Status RequestLength(const std::vector<c10::IValue>& args, const std::unordered_map<std::string, c10::IValue>& kwargs,
                     const PaddingSpec& spec, int64_t* length) {
  *length = 0;
  std::string first;
  auto check = [&](const c10::IValue& value, const PaddedInput& input) -> Status {
    const std::string where = "inputs." + input.name;
    if (!value.isTensor()) return Status(ErrorCode::kInvalidArg, where + ": a padded input (options.padding) must be a tensor");
    const at::Tensor& t = value.toTensor();
    if (t.dim() <= input.axis) {
      return Status(ErrorCode::kInvalidArg, where + ": a padded input on axis " + std::to_string(input.axis) + " needs at least " +
                                               std::to_string(input.axis + 1) + " dimensions, but it has " + std::to_string(t.dim()));
    }
    const int64_t own = t.size(input.axis);
    if (*length > 0 && own != *length) {
      return Status(ErrorCode::kInvalidArg, where + " has length " + std::to_string(own) + " on its padded axis but inputs." + first + " has " +
                                               std::to_string(*length) + ": inputs padded together must agree on their length");
    }
    *length = own;
    if (first.empty()) first = input.name;
    return Status::Ok();
  };
  for (const PaddedInput& input : spec.inputs) {
    if (input.position >= 0 && static_cast<size_t>(input.position) < args.size()) {
      TORCHPOOL_RETURN_IF_ERROR(check(args[input.position], input));
    } else {
      auto it = kwargs.find(input.name);
      if (it != kwargs.end()) TORCHPOOL_RETURN_IF_ERROR(check(it->second, input));
    }
  }
  return Status::Ok();
}

namespace {

at::Tensor PadAxis(const at::Tensor& t, int64_t axis, int64_t to, double value) {
  const int64_t own = t.size(axis);
  if (own >= to) return t;
  // constant_pad_nd's list runs from the last dimension backwards, (before, after) per dimension.
  std::vector<int64_t> pad(static_cast<size_t>(2 * (t.dim() - axis)), 0);
  pad[static_cast<size_t>(2 * (t.dim() - 1 - axis) + 1)] = to - own;
  return at::constant_pad_nd(t, pad, value);
}

}  // namespace

void PadMembers(std::vector<RequestPtr>& members, const PaddingSpec& spec) {
  int64_t longest = 0;
  for (const RequestPtr& r : members) longest = std::max(longest, r->length);
  if (longest == 0) return;
  const int64_t bucket = spec.Bucket(longest);
  const int64_t to = bucket > 0 ? bucket : longest;
  for (RequestPtr& r : members) {
    if (r->length == 0) continue;
    r->padded_length = to;
    if (r->length == to) continue;
    for (size_t i = 0; i < r->args.size(); ++i) {
      const PaddedInput* input = spec.Find(static_cast<int>(i), "");
      if (input != nullptr && r->args[i].isTensor()) r->args[i] = PadAxis(r->args[i].toTensor(), input->axis, to, input->value);
    }
    for (auto& [name, value] : r->kwargs) {
      const PaddedInput* input = spec.Find(-1, name);
      if (input != nullptr && value.isTensor()) value = PadAxis(value.toTensor(), input->axis, to, input->value);
    }
  }
}

void TrimPadding(Request& request, const PaddingSpec& spec) {
  if (request.padded_length <= request.length || request.length <= 0 || !request.status.ok()) return;
  std::set<int64_t> axes;
  for (const PaddedInput& input : spec.inputs) axes.insert(input.axis);
  const int64_t padded = request.padded_length;
  const int64_t own = request.length;
  request.output = MapTensors(request.output, [&](const at::Tensor& t) {
    at::Tensor out = t;
    bool cut = false;
    for (int64_t axis : axes) {
      if (out.dim() > axis && out.size(axis) == padded) {
        out = out.narrow(axis, 0, own);
        cut = true;
      }
    }
    return cut ? out.contiguous() : out;
  });
}

}  // namespace torchpool
