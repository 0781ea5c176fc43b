#include "engine/runner/torchscript_runner.h"

#include <regex>
#include <set>
#include <sstream>

#include <torch/csrc/jit/passes/inliner.h>

#include "engine/precision.h"

namespace torchpool {
namespace {

// Whether a block (and the blocks inside it) calls quantized operators: libtorch's quantized::
// kernels, or quantizing a float tensor (a statically quantized model's QuantStub).
bool CallsQuantizedOps(const torch::jit::Block* block) {
  for (const torch::jit::Node* node : block->nodes()) {
    const std::string kind = node->kind().toQualString();
    if (kind.rfind("quantized::", 0) == 0 || kind.rfind("aten::quantize_per_", 0) == 0) return true;
    for (const torch::jit::Block* inner : node->blocks()) {
      if (CallsQuantizedOps(inner)) return true;
    }
  }
  return false;
}

// The forward with every submodule call inlined, scanned for quantized operators.
bool IsQuantized(const torch::jit::Module& module) {
  try {
    std::shared_ptr<torch::jit::Graph> graph = module.get_method("forward").graph()->copy();
    torch::jit::Inline(*graph);
    return CallsQuantizedOps(graph->block());
  } catch (...) {
    return false;  // a graph that cannot be inlined is not one the quantized converters made
  }
}

class TorchScriptRunner : public ModelRunner {
 public:
  explicit TorchScriptRunner(torch::jit::Module module)
      : module_(std::move(module)), forward_(module_.get_method("forward")), quantized_(IsQuantized(module_)) {}

  c10::IValue Forward(std::vector<c10::IValue> args,
                      const std::unordered_map<std::string, c10::IValue>& kwargs) override {
    return forward_(std::move(args), kwargs);
  }

  ForwardSignature Signature() const override { return ForwardSignature(forward_.function().getSchema()); }
  const char* Format() const override { return "torchscript"; }
  bool Quantized() const override { return quantized_; }
  std::vector<WeightBlock> Weights() const override {
    std::vector<WeightBlock> blocks;
    std::set<const void*> seen;
    auto add = [&](const at::Tensor& t) {
      if (t.defined() && t.nbytes() > 0 && seen.insert(t.data_ptr()).second) blocks.push_back({t.data_ptr(), t.nbytes()});
    };
    for (const at::Tensor& p : module_.parameters()) add(p);
    for (const at::Tensor& b : module_.buffers()) add(b);
    return blocks;
  }

 private:
  torch::jit::Module module_;
  torch::jit::Method forward_;  // looked up once, not per request
  bool quantized_;
};

// What a load error means, when libtorch's own message does not say it plainly.
std::string LoadHint(const std::string& message) {
  std::smatch match;
  static const std::regex unknown_op(R"(Unknown builtin op: ([A-Za-z_]\w*::[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?))");
  static const std::regex unknown_class(R"(Unknown type name '(__torch__\.torch\.classes\.[\w.]+)')");
  if (std::regex_search(message, match, unknown_op)) {
    return " (the model calls the operator " + match[1].str() +
           ", which no loaded library registers: load the library that defines it with the "
           "`extensions` option, e.g. a custom-op .so or libtorchtrt_runtime.so for Torch-TensorRT)";
  }
  if (std::regex_search(message, match, unknown_class)) {
    return " (the model uses the class " + match[1].str() +
           ", which no loaded library registers: load the library that defines it with the "
           "`extensions` option; Torch-TensorRT engines need libtorchtrt_runtime.so)";
  }
  if (message.find("central directory") != std::string::npos ||
      message.find("file not found") != std::string::npos ||
      message.find("constants.pkl") != std::string::npos) {
    return " (not a complete TorchScript archive: the file may be truncated, or saved with "
           "torch.save instead of torch.jit.save(torch.jit.script(model)))";
  }
  return "";
}

Status QuantizedOnCpuOnly(const std::string& label, const c10::Device& device) {
  return Status(ErrorCode::kModelLoad, "the model in " + label + " is quantized (it calls libtorch's INT8 operators), which run on the CPU only, so it "
                                       "cannot run on " + device.str() + ": serve it with devices: 'cpu', or give " + device.str() +
                                       " the float model (precision 'fp16' or 'bf16' is the GPU's way to trade accuracy for speed)");
}

}  // namespace

Status LoadTorchScriptRunner(const std::string& bytes, const std::string& label, const c10::Device& device,
                             bool optimize, const ExecutionOptions& execution, std::unique_ptr<ModelRunner>* out) {
  torch::jit::Module module;
  try {
    std::istringstream stream(bytes);
    module = torch::jit::load(stream, device);
  } catch (...) {
    Status status = StatusFromCurrentException(ErrorCode::kModelLoad);
    if (status.code() != ErrorCode::kModelLoad) return status;  // CUDA / out of memory
    // A quantized model's packed weights cannot move to a GPU: say that, not libtorch's message.
    if (!device.is_cpu()) {
      try {
        std::istringstream again(bytes);
        if (IsQuantized(torch::jit::load(again, c10::Device(c10::kCPU)))) return QuantizedOnCpuOnly(label, device);
      } catch (...) {
      }
    }
    return Status(ErrorCode::kModelLoad, "cannot load TorchScript model from " + label +
                                             LoadHint(status.message()) + ": " + status.message());
  }
  if (!module.find_method("forward")) {
    return Status(ErrorCode::kModelLoad, "the model in " + label + " has no forward method");
  }
  module.eval();
  TORCHPOOL_RETURN_IF_ERROR(PrepareModule(&module, execution));
  if (optimize) {
    try {
      torch::jit::Module frozen = torch::jit::freeze(module);
      module = torch::jit::optimize_for_inference(frozen);
    } catch (...) {
      // Some scripted modules cannot be frozen (e.g. they mutate attributes); run them as-is.
      Status status = StatusFromCurrentException(ErrorCode::kModelLoad);
      if (status.code() != ErrorCode::kModelLoad) return status;
    }
  }
  auto runner = std::make_unique<TorchScriptRunner>(std::move(module));
  if (runner->Quantized() && !device.is_cpu()) return QuantizedOnCpuOnly(label, device);
  *out = std::move(runner);
  return Status::Ok();
}

}  // namespace torchpool
