#include "engine/runner/aoti_package.h"

#if defined(TORCHPOOL_WITH_AOTI)

#if defined(TORCHPOOL_AOTI_CONSTANTS)
#include <torch/csrc/inductor/aoti_runner/model_container_runner.h>
#endif

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <unordered_map>

#if defined(TORCHPOOL_WITH_CUDA)
#include <cuda_runtime.h>
#endif

#include "engine/device_scope.h"

namespace torchpool {
namespace {

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

// Refuses a package made for another kind of device or GPU architecture, with the reason,
// rather than fail at the first request.
Status CheckFits(const std::unordered_map<std::string, std::string>& metadata, const std::string& path, const c10::Device& device) {
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
  return Status::Ok();
}

}  // namespace

Status OpenAotiLoader(const std::string& path, const std::string& model_name, const c10::Device& device,
                      bool single_threaded, size_t runners, std::shared_ptr<AotiLoader>* out,
                      ForwardSignature* signature) {
  // Without these checks a wrong shape or dtype is undefined behaviour inside the compiled code,
  // not an error; read once by the runtime, on the first run.
  setenv("AOTI_RUNTIME_CHECK_INPUTS", "1", /*overwrite=*/0);
  DeviceScope device_scope(device);
  std::shared_ptr<AotiLoader> loader;
  try {
#if defined(TORCHPOOL_AOTI_LOADER_DEVICE)
    loader = std::make_shared<AotiLoader>(path, model_name, single_threaded, single_threaded ? 1 : std::max<size_t>(1, runners),
                                          static_cast<c10::DeviceIndex>(device.is_cuda() ? device.index() : -1));
#else
    (void)single_threaded;
    (void)runners;
    loader = std::make_shared<AotiLoader>(path, model_name);
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
  TORCHPOOL_RETURN_IF_ERROR(CheckFits(metadata, path, device));
  std::vector<ForwardArgument> inputs;
  const size_t count = call_spec.empty() ? 0 : CountLeaves(call_spec.front());
  for (size_t i = 0; i < count; ++i) inputs.push_back({"input_" + std::to_string(i), "Tensor", false});
  std::string returns = "Tensor[]";
  if (call_spec.size() > 1 && CountLeaves(call_spec[1]) == 1) returns = "Tensor";
  *signature = ForwardSignature(std::move(inputs), returns, /*positional_only=*/true, count == 0);
  signature->set_metadata(std::map<std::string, std::string>(metadata.begin(), metadata.end()));
  *out = std::move(loader);
  return Status::Ok();
}

bool ShareAotiConstants(AotiLoader& owner, AotiLoader& borrower, std::string* why) {
#if defined(TORCHPOOL_AOTI_SHARE_CONSTANTS)
  try {
    // Keyed by the constants' original names; views of the owner's memory, which it keeps.
    std::unordered_map<std::string, at::Tensor> constants = owner.get_runner()->extract_constants_map(/*use_inactive=*/false);
    // Twice: the borrowed constants go into the spare buffer, which becomes the active one, and
    // the loader's own copy (the other buffer) is freed; then the same again, so that they end in
    // the primary buffer. A single-threaded run (libtorch 2.11) checks the primary buffer's state
    // whichever buffer is active, and a freed primary reads as "Unknown constant state: NONE".
    for (int pass = 0; pass < 2; ++pass) {
      borrower.load_constants(constants, /*use_inactive=*/true, /*check_full_update=*/true, /*user_managed=*/true);
      borrower.get_runner()->swap_constant_buffer();
      borrower.get_runner()->free_inactive_constant_buffer();
    }
    return true;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    *why = "each engine keeps its own copy of the weights: sharing them failed (" + what.substr(0, what.find('\n')) + ")";
    return false;
  }
#else
  (void)owner;
  (void)borrower;
  *why = "each engine keeps its own copy of the weights: this libtorch cannot hand a package's constants to another loader";
  return false;
#endif
}

std::vector<WeightBlock> AotiWeightBlocks(AotiLoader& loader) {
  std::vector<WeightBlock> blocks;
#if defined(TORCHPOOL_AOTI_CONSTANTS)
  try {
    std::set<const void*> seen;
    for (const auto& [name, tensor] : loader.get_runner()->extract_constants_map(/*use_inactive=*/false)) {
      if (!tensor.defined() || !seen.insert(tensor.data_ptr()).second) continue;
      blocks.push_back({tensor.data_ptr(), tensor.nbytes()});
    }
  } catch (...) {
    blocks.clear();  // unknown: reported as none rather than wrong
  }
#else
  (void)loader;
#endif
  return blocks;
}

}  // namespace torchpool

#endif
