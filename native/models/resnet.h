#pragma once
// Internal to the model zoo: ResNet builders live in their own file because the
// TorchScript text generator is the bulk of the zoo.
#include <cstdint>

#include <torch/script.h>

namespace torchpool {
namespace models {

// torchvision ResNet-18 (BasicBlock, [2, 2, 2, 2]) with seeded random weights.
torch::jit::Module BuildResNet18(uint64_t seed);
// torchvision ResNet-50 v1.5 (Bottleneck, [3, 4, 6, 3]) with seeded random weights.
torch::jit::Module BuildResNet50(uint64_t seed);

}  // namespace models
}  // namespace torchpool
