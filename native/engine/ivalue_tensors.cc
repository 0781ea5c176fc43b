#include "engine/ivalue_tensors.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <vector>

namespace torchpool {

c10::IValue MapTensors(const c10::IValue& value, const TensorFn& fn) {
  if (value.isTensor()) return fn(value.toTensor());
  if (value.isTensorList()) {
    c10::List<at::Tensor> out;
    for (at::Tensor t : value.toTensorList()) out.push_back(fn(t));
    return out;
  }
  if (value.isList()) {
    c10::impl::GenericList in = value.toList();
    c10::impl::GenericList out(in.elementType());
    out.reserve(in.size());
    for (c10::IValue item : in) out.push_back(MapTensors(item, fn));
    return out;
  }
  if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    std::vector<c10::IValue> out;
    out.reserve(elements.size());
    for (const c10::IValue& item : elements) out.push_back(MapTensors(item, fn));
    return c10::ivalue::Tuple::create(std::move(out));
  }
  if (value.isGenericDict()) {
    c10::impl::GenericDict in = value.toGenericDict();
    c10::impl::GenericDict out(in.keyType(), in.valueType());
    for (const auto& entry : in) out.insert(entry.key(), MapTensors(entry.value(), fn));
    return out;
  }
  return value;
}

at::Tensor ToHostTensor(const at::Tensor& tensor) {
  at::Tensor host = tensor;
  switch (tensor.scalar_type()) {
    case at::kFloat: case at::kDouble: case at::kHalf: case at::kInt: case at::kLong:
    case at::kShort: case at::kByte: case at::kChar: case at::kBool:
      break;
    case at::kBFloat16:
      host = host.to(at::kFloat);
      break;
    default:
      TORCH_CHECK(false, "the model returned a tensor of dtype ", tensor.scalar_type(),
                  ", which torchpool cannot return to JavaScript (supported: float32, float64, "
                  "float16, bfloat16 as float32, int64, int32, int16, int8, uint8, bool)");
  }
  if (!host.device().is_cpu()) host = host.to(at::kCPU);
  return host.contiguous();
}

}  // namespace torchpool
