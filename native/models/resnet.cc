// ResNet-18 / ResNet-50 for the model zoo, built without Python: parameters are
// registered under torchvision's state-dict names ('.' -> '_', e.g.
// layer1_0_conv1_weight) and forward() is generated as straight-line
// TorchScript, because Module::define only sees the module it is called on.
#include "resnet.h"

#include <array>
#include <cmath>
#include <sstream>
#include <string>

#include <ATen/CPUGeneratorImpl.h>

namespace torchpool {
namespace models {
namespace {

constexpr int64_t kStemChannels = 64;
constexpr int64_t kNumClasses = 1000;
constexpr int64_t kBottleneckExpansion = 4;
// The last BN of each residual branch starts small (torchvision's
// zero_init_residual idea, but non-zero so the branch is still exercised) so
// the residual sum stays O(1) through 8-16 blocks.
constexpr double kResidualBnScale = 0.2;

class ResNetWriter {
 public:
  ResNetWriter(const char* class_name, uint64_t seed)
      : module_(class_name), gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}

  // Emits `dst = [relu](bn(conv(src)))`; padding is kernel / 2 as in torchvision.
  void ConvBn(const std::string& dst, const std::string& src, const std::string& conv,
              const std::string& bn, int64_t in, int64_t out, int64_t kernel, int64_t stride,
              bool relu, double bn_scale = 1.0) {
    const std::string w = conv + "_weight";
    // Kaiming normal, fan_in mode: keeps the activation variance ~1 through ReLUs.
    const double std = std::sqrt(2.0 / static_cast<double>(in * kernel * kernel));
    Param(w, Randn({out, in, kernel, kernel}) * std);
    // Mildly non-trivial BN statistics so the op is really exercised.
    Param(bn + "_weight", (1.0 + 0.1 * Randn({out})) * bn_scale);
    Param(bn + "_bias", 0.05 * Randn({out}));
    Buffer(bn + "_running_mean", 0.05 * Randn({out}));
    Buffer(bn + "_running_var", 0.9 + 0.2 * at::rand({out}, gen_, at::kFloat));

    const int64_t pad = kernel / 2;
    std::ostringstream expr;
    expr << "torch.batch_norm(torch.conv2d(" << src << ", self." << w << ", None, [" << stride
         << ", " << stride << "], [" << pad << ", " << pad << "]), self." << bn << "_weight, self."
         << bn << "_bias, self." << bn << "_running_mean, self." << bn
         << "_running_var, False, 0.1, 1e-05, True)";
    Emit(dst + " = " + (relu ? "torch.relu(" + expr.str() + ")" : expr.str()));
  }

  // conv1 7x7/2 + bn1 + relu + maxpool 3x3/2.
  void Stem() {
    ConvBn("x", "x", "conv1", "bn1", 3, kStemChannels, 7, 2, /*relu=*/true);
    Emit("x = torch.max_pool2d(x, [3, 3], [2, 2], [1, 1], [1, 1], False)");
  }

  // torchvision BasicBlock (expansion 1). Returns the block's output channels.
  int64_t BasicBlock(const std::string& p, int64_t in, int64_t planes, int64_t stride) {
    ConvBn("out", "x", p + "conv1", p + "bn1", in, planes, 3, stride, true);
    ConvBn("out", "out", p + "conv2", p + "bn2", planes, planes, 3, 1, false, kResidualBnScale);
    Residual(p, in, planes, stride);
    return planes;
  }

  // torchvision Bottleneck v1.5: the stride sits on the 3x3 conv.
  int64_t Bottleneck(const std::string& p, int64_t in, int64_t planes, int64_t stride) {
    const int64_t out = planes * kBottleneckExpansion;
    ConvBn("out", "x", p + "conv1", p + "bn1", in, planes, 1, 1, true);
    ConvBn("out", "out", p + "conv2", p + "bn2", planes, planes, 3, stride, true);
    ConvBn("out", "out", p + "conv3", p + "bn3", planes, out, 1, 1, false, kResidualBnScale);
    Residual(p, in, out, stride);
    return out;
  }

  // avgpool + flatten + fc.
  void Head(int64_t features) {
    // 1/sqrt(fan_in) keeps logits O(1) for O(1) pooled features.
    Param("fc_weight", Randn({kNumClasses, features}) / std::sqrt(static_cast<double>(features)));
    Param("fc_bias", 0.01 * Randn({kNumClasses}));
    Emit("x = torch.adaptive_avg_pool2d(x, [1, 1])");
    Emit("x = torch.flatten(x, 1)");
    Emit("return torch.linear(x, self.fc_weight, self.fc_bias)");
  }

  torch::jit::Module Finish() {
    module_.define("def forward(self, x: Tensor) -> Tensor:\n" + body_.str());
    return module_;
  }

 private:
  // Adds the skip connection; a 1x1 conv + BN projection when the shape changes.
  void Residual(const std::string& p, int64_t in, int64_t out, int64_t stride) {
    if (stride != 1 || in != out) {
      ConvBn("identity", "x", p + "downsample_0", p + "downsample_1", in, out, 1, stride, false);
      Emit("x = torch.relu(out + identity)");
    } else {
      Emit("x = torch.relu(out + x)");
    }
  }

  at::Tensor Randn(at::IntArrayRef sizes) { return at::randn(sizes, gen_, at::kFloat); }
  void Param(const std::string& name, const at::Tensor& t) {
    module_.register_parameter(name, t.contiguous(), /*is_buffer=*/false);
  }
  void Buffer(const std::string& name, const at::Tensor& t) {
    module_.register_buffer(name, t.contiguous());
  }
  void Emit(const std::string& line) { body_ << "    " << line << "\n"; }

  torch::jit::Module module_;
  at::Generator gen_;
  std::ostringstream body_;
};

torch::jit::Module BuildResNet(const char* class_name, uint64_t seed, bool bottleneck,
                               const std::array<int, 4>& blocks) {
  ResNetWriter writer(class_name, seed);
  writer.Stem();
  int64_t channels = kStemChannels;
  for (int layer = 0; layer < 4; ++layer) {
    const int64_t planes = kStemChannels << layer;  // 64, 128, 256, 512
    for (int b = 0; b < blocks[layer]; ++b) {
      const int64_t stride = (layer > 0 && b == 0) ? 2 : 1;
      const std::string prefix =
          "layer" + std::to_string(layer + 1) + "_" + std::to_string(b) + "_";
      channels = bottleneck ? writer.Bottleneck(prefix, channels, planes, stride)
                            : writer.BasicBlock(prefix, channels, planes, stride);
    }
  }
  writer.Head(channels);
  return writer.Finish();
}

}  // namespace

torch::jit::Module BuildResNet18(uint64_t seed) {
  return BuildResNet("TorchpoolResNet18", seed, /*bottleneck=*/false, {2, 2, 2, 2});
}

torch::jit::Module BuildResNet50(uint64_t seed) {
  return BuildResNet("TorchpoolResNet50", seed, /*bottleneck=*/true, {3, 4, 6, 3});
}

}  // namespace models
}  // namespace torchpool
