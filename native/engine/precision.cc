#include "engine/precision.h"

namespace torchpool {

c10::ScalarType ComputeDtype(Precision precision) {
  switch (precision) {
    case Precision::kFp16: return c10::kHalf;
    case Precision::kBf16: return c10::kBFloat16;
    default: return c10::ScalarType::Undefined;
  }
}

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kFp16: return "fp16";
    case Precision::kBf16: return "bf16";
    case Precision::kAutocast: return "autocast";
    default: return "fp32";
  }
}

Status PrepareModule(torch::jit::Module* module, const ExecutionOptions& options) {
  try {
    const c10::ScalarType dtype = ComputeDtype(options.precision);
    if (dtype != c10::ScalarType::Undefined) module->to(dtype);
    if (options.channels_last) {
      for (at::Tensor param : module->parameters()) {
        if (param.dim() == 4) param.set_data(param.contiguous(at::MemoryFormat::ChannelsLast));
      }
    }
    return Status::Ok();
  } catch (...) {
    Status status = StatusFromCurrentException(ErrorCode::kModelLoad);
    return Status(status.code(), std::string("cannot convert the model to ") +
                                     PrecisionName(options.precision) +
                                     (options.channels_last ? " channels-last" : "") + ": " +
                                     status.message());
  }
}

at::Tensor CastInput(const at::Tensor& tensor, const ExecutionOptions& options) {
  at::Tensor out = tensor;
  const c10::ScalarType dtype = ComputeDtype(options.precision);
  if (dtype != c10::ScalarType::Undefined && out.is_floating_point() && out.scalar_type() != dtype) {
    out = out.to(dtype);
  }
  if (options.channels_last && out.dim() == 4 && out.is_floating_point()) {
    out = out.contiguous(at::MemoryFormat::ChannelsLast);
  }
  return out;
}

at::Tensor CastOutput(const at::Tensor& tensor, const ExecutionOptions& options) {
  const c10::ScalarType type = tensor.scalar_type();
  switch (options.output_dtype) {
    case OutputDtype::kFloat32:
      if (type == c10::kHalf || type == c10::kBFloat16) return tensor.to(c10::kFloat);
      return tensor;
    case OutputDtype::kFloat16:
      if (type == c10::kFloat || type == c10::kBFloat16 || type == c10::kDouble) {
        return tensor.to(c10::kHalf);
      }
      return tensor;
    default:
      return tensor;
  }
}

}  // namespace torchpool
