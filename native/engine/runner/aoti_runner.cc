#include "engine/runner/aoti_runner.h"

#include <torch/version.h>

#if defined(TORCHPOOL_WITH_AOTI)
#include <ATen/ATen.h>

#include <atomic>
#include <exception>
#include <stdexcept>

#include "engine/runner/aoti_package.h"
#endif

#if defined(TORCHPOOL_WITH_AOTI) && defined(TORCHPOOL_WITH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "engine/device_scope.h"

namespace torchpool {

#if defined(TORCHPOOL_WITH_AOTI)

namespace {

class AotiRunner : public ModelRunner {
 public:
  // `loader` may be shared with the other engines of the device; `constants_owner` is the loader
  // whose constants this one borrowed (kept alive as long as this runner), if any.
  AotiRunner(std::shared_ptr<AotiLoader> loader, std::shared_ptr<AotiLoader> constants_owner, c10::Device device, ForwardSignature signature)
      : loader_(std::move(loader)), constants_owner_(std::move(constants_owner)), device_(device), signature_(std::move(signature)),
        weights_(AotiWeightBlocks(*loader_)) {}

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
    // A package exported with Dim('batch', min=2) (torch.export's default start when the bound is
    // not given; scripts/export-aoti.py exports min=1) refuses a batch of one row. Such a batch
    // runs as two rows (the row twice) and the copy is dropped; after the first time that works,
    // every one-row batch runs so. Rows are independent, as dynamic batching assumes anyway.
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
  std::vector<WeightBlock> Weights() const override { return weights_; }

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

  std::shared_ptr<AotiLoader> loader_;
  std::shared_ptr<AotiLoader> constants_owner_;
  c10::Device device_;
  ForwardSignature signature_;
  std::vector<WeightBlock> weights_;
};

}  // namespace

bool AotiAvailable() { return true; }
std::string AotiUnavailableReason() { return ""; }

Status LoadAotiRunner(const std::string& path, const std::string& model_name, const c10::Device& device,
                      const AotiRunnerOptions& options, std::shared_ptr<void>* device_state,
                      std::unique_ptr<ModelRunner>* out) {
  if (!*device_state) *device_state = std::make_shared<AotiDeviceLoaders>();
  AotiDeviceLoaders& loaders = *std::static_pointer_cast<AotiDeviceLoaders>(*device_state);
  if (!options.single_threaded) {
    // One loader for every engine of the device: its runners share the constants.
    if (!loaders.shared) {
      TORCHPOOL_RETURN_IF_ERROR(OpenAotiLoader(path, model_name, device, false, options.engines_on_device, &loaders.shared, &loaders.signature));
    }
    *out = std::make_unique<AotiRunner>(loaders.shared, nullptr, device, loaders.signature);
    return Status::Ok();
  }
  std::shared_ptr<AotiLoader> loader;
  ForwardSignature signature;
  TORCHPOOL_RETURN_IF_ERROR(OpenAotiLoader(path, model_name, device, true, 1, &loader, &signature));
  std::shared_ptr<AotiLoader> owner;
  if (!loaders.first_single) {
    loaders.first_single = loader;
  } else if (ShareAotiConstants(*loaders.first_single, *loader, &loaders.sharing_note)) {
    owner = loaders.first_single;
  }
  *out = std::make_unique<AotiRunner>(std::move(loader), std::move(owner), device, std::move(signature));
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

Status LoadAotiRunner(const std::string& path, const std::string&, const c10::Device&, const AotiRunnerOptions&,
                      std::shared_ptr<void>*, std::unique_ptr<ModelRunner>*) {
  return Status(ErrorCode::kModelLoad, "cannot load " + path + ": " + AotiUnavailableReason());
}

#endif

}  // namespace torchpool
