#include "engine/output_targets.h"

#include <ATen/ATen.h>

#include <cstring>

#include "engine/dtype_name.h"

namespace torchpool {
namespace {

std::string Describe(const at::Tensor& t) {
  std::string shape;
  for (int64_t d : t.sizes()) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
  return std::string(DtypeName(t.scalar_type())) + " [" + shape + "]";
}

std::string Where(const std::string& name) { return name.empty() ? "options.output" : "options.output." + name; }

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> NamedOutputTensors(const c10::IValue& output) {
  std::vector<std::pair<std::string, at::Tensor>> named;
  if (output.isTensor()) {
    named.emplace_back("", output.toTensor());
  } else if (output.isTuple() || output.isList() || output.isTensorList()) {
    std::vector<c10::IValue> items;
    if (output.isTuple()) {
      items = output.toTupleRef().elements().vec();
    } else if (output.isTensorList()) {
      for (at::Tensor t : output.toTensorList()) items.emplace_back(t);
    } else {
      for (c10::IValue v : output.toList()) items.push_back(v);
    }
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].isTensor()) named.emplace_back("output__" + std::to_string(i), items[i].toTensor());
    }
  } else if (output.isGenericDict()) {
    for (const auto& entry : output.toGenericDict()) {
      if (entry.key().isString() && entry.value().isTensor()) named.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
    }
  }
  return named;
}

Status WriteOutputTargets(const c10::IValue& output, const std::vector<OutputTarget>& targets) {
  const std::vector<std::pair<std::string, at::Tensor>> named = NamedOutputTensors(output);
  std::vector<std::pair<const OutputTarget*, const at::Tensor*>> writes;
  for (const OutputTarget& target : targets) {
    const at::Tensor* tensor = nullptr;
    for (const auto& [name, t] : named) {
      // A lone tensor output also answers to "output__0", its name in a response of serve.
      if (name == target.name || (name.empty() && target.name == "output__0")) tensor = &t;
    }
    if (tensor == nullptr) {
      std::string names;
      for (const auto& [name, t] : named) names += (names.empty() ? "'" : ", '") + (name.empty() ? std::string("(one tensor: pass a TypedArray)") : name) + "'";
      return Status(ErrorCode::kInvalidArg, "Expected the name of one of the model's tensor outputs (" + (names.empty() ? std::string("none") : names) +
                                               ") for " + Where(target.name) + " but the model has no output of that name");
    }
    const at::Tensor& t = *tensor;
    const bool dtype_fits = t.scalar_type() == target.dtype || (target.or_bool && t.scalar_type() == c10::kBool);
    if (!dtype_fits || t.nbytes() != target.bytes || !t.is_cpu()) {
      const size_t element = c10::elementSize(target.dtype);
      return Status(ErrorCode::kInvalidArg, "Expected an array that holds the output " + Describe(t) + " (" + std::to_string(t.numel()) +
                                               " elements) for " + Where(target.name) + " but received a " + target.array + " of " +
                                               std::to_string(element > 0 ? target.bytes / element : 0) + " elements");
    }
    writes.emplace_back(&target, tensor);
  }
  for (const auto& [target, tensor] : writes) {
    const at::Tensor source = tensor->contiguous();
    if (target->bytes > 0) std::memcpy(target->data, source.data_ptr(), target->bytes);
  }
  return Status::Ok();
}

}  // namespace torchpool
