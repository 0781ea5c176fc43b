#include "engine/runner/aoti_runner.h"

#include <torch/version.h>

#if defined(TORCHPOOL_WITH_AOTI)
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <ATen/ATen.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <map>
#include <regex>
#include <stdexcept>
#endif

#if defined(TORCHPOOL_WITH_AOTI) && defined(TORCHPOOL_WITH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#endif

#include "engine/device_scope.h"

namespace torchpool {

#if defined(TORCHPOOL_WITH_AOTI)

namespace {

class AotiRunner : public ModelRunner {
 public:
  AotiRunner(std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader, c10::Device device, ForwardSignature signature)
      : loader_(std::move(loader)), device_(device), signature_(std::move(signature)) {}

  c10::IValue Forward(std::vector<c10::IValue> args,
                      const std::unordered_map<std::string, c10::IValue>& kwargs) override {
    if (!kwargs.empty()) throw std::invalid_argument("an AOTInductor package takes positional inputs only");
    std::vector<at::Tensor> inputs;
    inputs.reserve(args.size());
    for (size_t i = 0; i < args.size(); ++i) {
      if (!args[i].isTensor()) throw std::invalid_argument("input " + std::to_string(i) + " is not a tensor: an AOTInductor package takes tensors only");
      inputs.push_back(args[i].toTensor());
    }
    void* stream = nullptr;
#if defined(TORCHPOOL_WITH_CUDA)
    // The engine's compute stream, current on this thread while it launches.
    if (device_.is_cuda()) stream = reinterpret_cast<void*>(c10::cuda::getCurrentCUDAStream(device_.index()).stream());
#endif
    // torch.export starts a dynamic batch dimension at 2 (it specialises sizes 0 and 1), so the
    // usual export refuses a batch of one row. Such a batch runs as two rows (the row twice) and
    // the copy is dropped; after the first time that works, every one-row batch runs so. Rows
    // are independent, as dynamic batching assumes anyway.
    const bool one_row = OneRow(inputs);
    std::vector<at::Tensor> outputs;
    if (one_row && pad_single_row_.load(std::memory_order_relaxed)) {
      outputs = FirstRow(RunExplained(Doubled(inputs), stream));
    } else {
      try {
        outputs = RunExplained(inputs, stream);
      } catch (const std::exception& e) {
        const bool out_of_memory = std::string(e.what()).find("out of memory") != std::string::npos;
        if (!one_row || out_of_memory || padding_tried_.exchange(true)) throw;
        std::exception_ptr original = std::current_exception();
        try {
          outputs = FirstRow(RunExplained(Doubled(inputs), stream));
        } catch (...) {
          std::rethrow_exception(original);
        }
        pad_single_row_.store(true, std::memory_order_relaxed);
      }
    }
    if (outputs.size() == 1) return outputs.front();
    std::vector<c10::IValue> items(outputs.begin(), outputs.end());
    return c10::ivalue::Tuple::create(std::move(items));
  }

  ForwardSignature Signature() const override { return signature_; }
  const char* Format() const override { return "aoti"; }

 private:
  // The package's run, with its failures turned into messages that say what happened.
  std::vector<at::Tensor> RunExplained(const std::vector<at::Tensor>& inputs, void* stream) {
    int64_t ooms_before = 0;
#if defined(TORCHPOOL_WITH_CUDA)
    if (device_.is_cuda()) ooms_before = OutOfMemoryCount();
#endif
    try {
      return loader_->run(inputs, stream);
    } catch (const std::exception& e) {
      // The compiled code reports only that a call failed ("run_func_(...) API call failed");
      // the reason goes to stderr. Out of memory is told apart by the allocator's own count.
      std::string what = e.what();
      what = what.substr(0, what.find('\n'));
#if defined(TORCHPOOL_WITH_CUDA)
      if (device_.is_cuda() && OutOfMemoryCount() > ooms_before) {
        throw std::runtime_error("CUDA out of memory while the AOTInductor package ran on " + device_.str() + " (" + what + ")");
      }
#endif
      (void)ooms_before;
      throw std::runtime_error(
          "the AOTInductor package failed: " + what +
          ". AOTInductor prints the reason on stderr; most often an input is outside the shapes the package was exported "
          "for (a batch beyond its dynamic range, or a dimension exported as static)");
    }
  }

  // Every input a tensor whose dim 0 is 1.
  static bool OneRow(const std::vector<at::Tensor>& inputs) {
    if (inputs.empty()) return false;
    for (const at::Tensor& t : inputs) {
      if (t.dim() == 0 || t.size(0) != 1) return false;
    }
    return true;
  }

  static std::vector<at::Tensor> Doubled(const std::vector<at::Tensor>& inputs) {
    std::vector<at::Tensor> out;
    out.reserve(inputs.size());
    for (const at::Tensor& t : inputs) out.push_back(at::cat({t, t}, 0));
    return out;
  }

  // The first row of each output of a two-row run; throws when an output is not per row.
  static std::vector<at::Tensor> FirstRow(std::vector<at::Tensor> outputs) {
    for (at::Tensor& t : outputs) {
      if (t.dim() == 0 || t.size(0) != 2) throw std::runtime_error("an output of the two-row run does not have two rows");
      t = t.narrow(0, 0, 1);
    }
    return outputs;
  }

  std::atomic<bool> pad_single_row_{false};
  std::atomic<bool> padding_tried_{false};

#if defined(TORCHPOOL_WITH_CUDA)
  int64_t OutOfMemoryCount() const {
    try {
      return static_cast<int64_t>(c10::cuda::CUDACachingAllocator::getDeviceStats(device_.index()).num_ooms);
    } catch (...) {
      return 0;
    }
  }
#endif

  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader_;
  c10::Device device_;
  ForwardSignature signature_;
};

// Tensor leaves of a pytree spec (the package's call spec): one per positional input.
size_t CountLeaves(const std::string& spec) {
  static const std::regex leaf(R"("type"\s*:\s*null)");
  return static_cast<size_t>(std::distance(std::sregex_iterator(spec.begin(), spec.end(), leaf), std::sregex_iterator()));
}

std::string Digits(const std::string& text) {
  std::string out;
  for (char c : text) if (c >= '0' && c <= '9') out += c;
  return out;
}

}  // namespace

bool AotiAvailable() { return true; }
std::string AotiUnavailableReason() { return ""; }

Status LoadAotiRunner(const std::string& path, const std::string& model_name, const c10::Device& device,
                      std::unique_ptr<ModelRunner>* out) {
  // Without these checks a wrong shape or dtype is undefined behaviour inside the compiled code,
  // not an error; read once by the runtime, on the first run.
  setenv("AOTI_RUNTIME_CHECK_INPUTS", "1", /*overwrite=*/0);
  DeviceScope device_scope(device);
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader;
  try {
#if defined(TORCHPOOL_AOTI_LOADER_DEVICE)
    loader = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
        path, model_name, /*run_single_threaded=*/false, /*num_runners=*/1,
        static_cast<c10::DeviceIndex>(device.is_cuda() ? device.index() : -1));
#else
    loader = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, model_name);
#endif
  } catch (...) {
    Status status = StatusFromCurrentException(ErrorCode::kModelLoad);
    if (status.code() != ErrorCode::kModelLoad) return status;
    std::string message = status.message().substr(0, status.message().find('\n'));
    if (message.find("Unsupported device") != std::string::npos || message.find("CUDA is not available") != std::string::npos) {
      message += " (the package was compiled for CUDA: load it on a cuda device, with a CUDA libtorch)";
    }
    return Status(ErrorCode::kModelLoad, "cannot load the AOTInductor package " + path + " (model '" + model_name + "'): " + message);
  }
  std::unordered_map<std::string, std::string> metadata;
  std::vector<std::string> call_spec;
  try {
    metadata = loader->get_metadata();
    call_spec = loader->get_call_spec();
  } catch (...) {
  }
  // A package runs only on the kind of device (and GPU architecture) it was compiled for:
  // refuse the mismatch here with the reason, rather than fail at the first request.
  const auto key = metadata.find("AOTI_DEVICE_KEY");
  if (key != metadata.end()) {
    const bool package_cuda = key->second.find("cuda") != std::string::npos;
    if (package_cuda != device.is_cuda()) {
      return Status(ErrorCode::kModelLoad, "the AOTInductor package " + path + " was compiled for " + key->second +
                                               " but this engine runs on " + device.str() +
                                               ": compile it for that device (torch._inductor.aoti_compile_and_package with the model and inputs on it)");
    }
  }
#if defined(TORCHPOOL_WITH_CUDA)
  const auto arch = metadata.find("AOTI_COMPUTE_CAPABILITY");
  if (arch != metadata.end() && device.is_cuda()) {
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, device.index()) == cudaSuccess) {
      const std::string have = std::to_string(props.major) + std::to_string(props.minor);
      const std::string want = Digits(arch->second);
      if (!want.empty() && want != have) {
        return Status(ErrorCode::kModelLoad, "the AOTInductor package " + path + " was compiled for GPU architecture sm_" + want +
                                                 " but " + device.str() + " is sm_" + have + ": compile it on (or for) this GPU");
      }
    }
    cudaGetLastError();
  }
#endif
  std::vector<ForwardArgument> inputs;
  const size_t count = call_spec.empty() ? 0 : CountLeaves(call_spec.front());
  for (size_t i = 0; i < count; ++i) inputs.push_back({"input_" + std::to_string(i), "Tensor", false});
  std::string returns = "Tensor[]";
  if (call_spec.size() > 1 && CountLeaves(call_spec[1]) == 1) returns = "Tensor";
  ForwardSignature signature(std::move(inputs), returns, /*positional_only=*/true, count == 0);
  std::map<std::string, std::string> sorted(metadata.begin(), metadata.end());
  signature.set_metadata(std::move(sorted));
  *out = std::make_unique<AotiRunner>(std::move(loader), device, std::move(signature));
  return Status::Ok();
}

#else  // no AOTInductor in this libtorch

bool AotiAvailable() { return false; }

std::string AotiUnavailableReason() {
  return std::string("running AOTInductor packages (.pt2) needs libtorch 2.6 or later with torch::inductor::"
                     "AOTIModelPackageLoader; this torchpool was built against libtorch ") + TORCH_VERSION +
         ". Rebuild it against a newer libtorch (TORCHPOOL_TORCH_DIR, or the torch of your Python), or use a "
         "TorchScript model";
}

Status LoadAotiRunner(const std::string& path, const std::string&, const c10::Device&, std::unique_ptr<ModelRunner>*) {
  return Status(ErrorCode::kModelLoad, "cannot load " + path + ": " + AotiUnavailableReason());
}

#endif

}  // namespace torchpool
