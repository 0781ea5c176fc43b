#pragma once
// AOTInductor packages, the parts around running one: opening a package on a device (with the
// reasons a package does not fit it), its signature, one copy of its weights per device, and
// which device memory the weights take. Compiled only with TORCHPOOL_WITH_AOTI (libtorch 2.6+).

#if defined(TORCHPOOL_WITH_AOTI)

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/forward_signature.h"
#include "engine/runner/model_runner.h"
#include "engine/status.h"

namespace torchpool {

using AotiLoader = torch::inductor::AOTIModelPackageLoader;

// The loaders of one package on one device, shared by the engines there (one per load).
//  - Engines that run the package directly share one loader made with `num_runners` = engines:
//    its runners share one copy of the constants and each call takes its own stream.
//  - Engines that capture CUDA graphs need a single-threaded loader each (no locks, events or
//    runner pool in the run, which a capture cannot hold); the second and later ones take the
//    first one's constants (user-managed) and free their own, so the device still holds one copy.
struct AotiDeviceLoaders {
  std::shared_ptr<AotiLoader> shared;        // the multi-runner loader
  std::shared_ptr<AotiLoader> first_single;  // the first single-threaded loader: owns the constants
  ForwardSignature signature;
  std::string sharing_note;  // why the constants could not be shared, if they could not
};

// Opens the package for `device`: MODEL_LOAD with the reason when it does not fit it.
Status OpenAotiLoader(const std::string& path, const std::string& model_name, const c10::Device& device,
                      bool single_threaded, size_t runners, std::shared_ptr<AotiLoader>* out,
                      ForwardSignature* signature);

// A single-threaded loader takes `owner`'s constants as its own and frees its copy. False, with
// `why`, when this libtorch cannot (each engine then keeps a copy).
bool ShareAotiConstants(AotiLoader& owner, AotiLoader& borrower, std::string* why);

// The device memory blocks of the loader's constants (pointer, bytes), for weight accounting.
std::vector<WeightBlock> AotiWeightBlocks(AotiLoader& loader);

}  // namespace torchpool

#endif
