// Built-in models for tests, demos and benchmarks, generated in C++ from
// TorchScript source so that no Python or download is needed.
// Models marked "formula" have weights that JavaScript tests recompute
// independently; their formulas are a contract, as are the model names.
#include "model_zoo.h"

#include <cmath>
#include <exception>
#include <memory>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/sugared_value.h>
#include <torch/script.h>

#include "resnet.h"

namespace torchpool {
namespace {

// Fills a [rows, cols] float32 tensor from f(i, j), evaluated in double and
// rounded once, so that JavaScript can reproduce it exactly.
template <typename F>
at::Tensor Formula2d(int64_t rows, int64_t cols, F f) {
  at::Tensor t = at::empty({rows, cols}, at::kFloat);
  auto a = t.accessor<float, 2>();
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      a[i][j] = static_cast<float>(f(static_cast<double>(i), static_cast<double>(j)));
    }
  }
  return t;
}

template <typename F>
at::Tensor Formula1d(int64_t n, F f) {
  at::Tensor t = at::empty({n}, at::kFloat);
  auto a = t.accessor<float, 1>();
  for (int64_t i = 0; i < n; ++i) a[i] = static_cast<float>(f(static_cast<double>(i)));
  return t;
}

// Linear layer l (1-based) of `tiny` and `mlp`:
//   weight[i][j] = sin(0.37 i + 0.11 j + l) / sqrt(n_in),  bias[i] = cos(0.23 i + l) * 0.1
at::Tensor LinearWeight(int64_t n_out, int64_t n_in, int layer) {
  const double norm = std::sqrt(static_cast<double>(n_in));
  return Formula2d(n_out, n_in, [&](double i, double j) {
    return std::sin(0.37 * i + 0.11 * j + layer) / norm;
  });
}
at::Tensor LinearBias(int64_t n_out, int layer) {
  return Formula1d(n_out, [&](double i) { return std::cos(0.23 * i + layer) * 0.1; });
}

void AddParam(torch::jit::Module& m, const std::string& name, const at::Tensor& t) {
  m.register_parameter(name, t, /*is_buffer=*/false);
}

torch::jit::Module Identity(uint64_t) {
  torch::jit::Module m("TorchpoolIdentity");
  // clone() is defined for every dtype (incl. bool, uint8, half) and
  // guarantees the output never aliases the caller's input buffer.
  m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    return x.clone()
)");
  return m;
}

torch::jit::Module Tiny(uint64_t) {
  torch::jit::Module m("TorchpoolTiny");
  AddParam(m, "weight", LinearWeight(16, 16, 1));  // /sqrt(16) == /4
  AddParam(m, "bias", LinearBias(16, 1));
  m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    return x @ self.weight.t() + self.bias
)");
  return m;
}

torch::jit::Module Mlp(uint64_t) {
  torch::jit::Module m("TorchpoolMlp");
  AddParam(m, "w1", LinearWeight(1024, 256, 1));
  AddParam(m, "b1", LinearBias(1024, 1));
  AddParam(m, "w2", LinearWeight(1024, 1024, 2));
  AddParam(m, "b2", LinearBias(1024, 2));
  AddParam(m, "w3", LinearWeight(10, 1024, 3));
  AddParam(m, "b3", LinearBias(10, 3));
  // torch.linear == x @ W^T + b, fused into one addmm.
  m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    h = torch.relu(torch.linear(x, self.w1, self.b1))
    h = torch.relu(torch.linear(h, self.w2, self.b2))
    return torch.linear(h, self.w3, self.b3)
)");
  return m;
}

torch::jit::Module TwoInput(uint64_t) {
  torch::jit::Module m("TorchpoolTwoInput");
  AddParam(m, "w", Formula2d(8, 4, [](double i, double j) { return std::sin(0.5 * i + 0.3 * j); }));
  // Argument names x and y are part of the contract (keyword calls).
  m.define(R"(
def forward(self, x: Tensor, y: Tensor) -> Tensor:
    return x @ self.w + y
)");
  return m;
}

torch::jit::Module TupleOut(uint64_t) {
  torch::jit::Module m("TorchpoolTupleOut");
  m.define(R"(
def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
    return (x + 1, x * 2)
)");
  return m;
}

torch::jit::Module DictOut(uint64_t) {
  torch::jit::Module m("TorchpoolDictOut");
  m.define(R"(
def forward(self, x: Tensor) -> Dict[str, Tensor]:
    return {"double": x * 2, "negated": -x}
)");
  return m;
}

torch::jit::Module Embedding(uint64_t) {
  torch::jit::Module m("TorchpoolEmbedding");
  AddParam(m, "table",
           Formula2d(1000, 16, [](double i, double j) { return std::sin(0.1 * i + j); }));
  m.define(R"(
def forward(self, ids: Tensor) -> Tensor:
    return torch.embedding(self.table, ids).mean(dim=1)
)");
  return m;
}

// Module::define's default resolver only knows `torch`; Python exception
// classes like ValueError come from the Python resolver, which C++ lacks. This
// one adds ValueError and defers everything else to the native resolver.
template <typename T>
struct SecondArg;
template <typename R, typename C, typename A1, typename A2, typename A3>
struct SecondArg<R (C::*)(A1, A2, A3)> {
  using type = A2;
};
// GraphFunction& in libtorch 1.13 and 2.x, Function& in older releases;
// deduced so the override compiles against both.
using ResolveFunction = SecondArg<decltype(&torch::jit::Resolver::resolveValue)>::type;

struct ExceptionResolver : torch::jit::Resolver {
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(
      const std::string& name, ResolveFunction m, const torch::jit::SourceRange& loc) override {
    // The message becomes "ValueError: <text>" in the thrown error.
    if (name == "ValueError") return std::make_shared<torch::jit::ExceptionValue>(name);
    return native_->resolveValue(name, m, loc);
  }
  c10::TypePtr resolveType(const std::string& name, const torch::jit::SourceRange& loc) override {
    return native_->resolveType(name, loc);
  }
  std::shared_ptr<torch::jit::Resolver> native_ = torch::jit::nativeResolver();
};

torch::jit::Module Raises(uint64_t) {
  torch::jit::Module m("TorchpoolRaises");
  m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    if bool((x < 0).any()):
        raise ValueError("torchpool test model: negative input")
    return x * 2
)",
           std::make_shared<ExceptionResolver>());
  return m;
}

// Like Raises, and a NaN anywhere in the input asks the allocator for 4 PiB, which fails the
// way a device out of memory does: scheduler tests use it to exercise engine health.
torch::jit::Module Faulty(uint64_t) {
  torch::jit::Module m("TorchpoolFaulty");
  m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    if bool((x < 0).any()):
        raise ValueError("torchpool test model: negative input")
    if bool(torch.isnan(x).any()):
        return x.new_empty([1125899906842624])
    return x * 2
)",
           std::make_shared<ExceptionResolver>());
  return m;
}

// Sums over the batch: rows are not independent, the kind of model dynamic batching must not
// merge. Tests use it to check that batching notices and turns itself off.
torch::jit::Module BatchSum(uint64_t) {
  torch::jit::Module m("TorchpoolBatchSum");
  m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    return x.sum(0)
)");
  return m;
}

torch::jit::Module Cost(uint64_t seed) {
  constexpr int64_t kWidth = 64;
  torch::jit::Module m("TorchpoolCost");
  // Private generator: seeding the global one would race with other threads.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // 1/sqrt(width) keeps h @ w O(1), so tanh neither saturates nor vanishes.
  AddParam(m, "w",
           at::randn({kWidth, kWidth}, gen, at::kFloat) / std::sqrt(static_cast<double>(kWidth)));
  // Work is linear in `iters`, which lets scheduler tests dial the cost.
  m.define(R"(
def forward(self, x: Tensor, iters: int) -> Tensor:
    h = x
    for _ in range(iters):
        h = torch.tanh(h @ self.w)
    return h
)");
  return m;
}

struct Entry {
  const char* name;
  torch::jit::Module (*build)(uint64_t seed);
};

// Order is the public, stable order of BuiltinModelNames().
const std::vector<Entry>& Registry() {
  static const std::vector<Entry> kEntries = {
      {"identity", Identity},
      {"tiny", Tiny},
      {"mlp", Mlp},
      {"resnet18", models::BuildResNet18},
      {"resnet50", models::BuildResNet50},
      {"two_input", TwoInput},
      {"tuple_out", TupleOut},
      {"dict_out", DictOut},
      {"embedding", Embedding},
      {"raises", Raises},
      {"cost", Cost},
      {"faulty", Faulty},
      {"batch_sum", BatchSum},
  };
  return kEntries;
}

}  // namespace

const std::vector<std::string>& BuiltinModelNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const Entry& e : Registry()) names.emplace_back(e.name);
    return names;
  }();
  return kNames;
}

std::string WriteBuiltinModel(const std::string& name, const std::string& path, uint64_t seed) {
  const Entry* entry = nullptr;
  for (const Entry& e : Registry()) {
    if (name == e.name) entry = &e;
  }
  if (entry == nullptr) {
    std::string known;
    for (const std::string& n : BuiltinModelNames()) known += (known.empty() ? "" : ", ") + n;
    return "unknown built-in model '" + name + "' (known: " + known + ")";
  }
  const std::string context = "failed to write built-in model '" + name + "' to '" + path + "': ";
  try {
    at::NoGradGuard no_grad;  // weight construction needs no autograd history
    torch::jit::Module m = entry->build(seed);
    m.eval();
    m.save(path);
    return "";
  } catch (const c10::Error& e) {
    // what() would append a C++ backtrace; users need only the message.
    return context + e.what_without_backtrace();
  } catch (const std::exception& e) {
    return context + e.what();
  } catch (...) {
    return context + "unknown error";
  }
}

}  // namespace torchpool
