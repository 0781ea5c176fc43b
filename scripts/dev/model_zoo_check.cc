// Standalone check for native/models: writes every built-in model, loads it
// back (from a path and from an in-memory stream), runs it and verifies the
// formula models against a double-precision recomputation.
// Not part of the build; see the g++ line in the model zoo notes.
#include <cxxabi.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <torch/script.h>
#include <torch/version.h>

#include "native/models/model_zoo.h"

namespace {

constexpr uint64_t kSeed = 42;
constexpr double kMaxRelErr = 1e-4;
int g_failures = 0;

void Check(const std::string& what, bool ok, const std::string& detail = "") {
  std::printf("  %s %s%s%s\n", ok ? "PASS" : "FAIL", what.c_str(), detail.empty() ? "" : ": ",
              detail.c_str());
  if (!ok) ++g_failures;
}

std::string Shape(const at::Tensor& t) {
  std::ostringstream s;
  s << "Tensor[" << c10::toString(t.scalar_type()) << ", " << t.sizes() << "]";
  return s.str();
}

std::string Describe(const c10::IValue& v) {
  if (v.isTensor()) return Shape(v.toTensor());
  if (v.isTuple()) {
    std::string s = "(";
    for (const auto& e : v.toTupleRef().elements()) s += (s.size() > 1 ? ", " : "") + Describe(e);
    return s + ")";
  }
  if (v.isGenericDict()) {
    std::string s = "{";
    for (const auto& kv : v.toGenericDict()) {
      s += (s.size() > 1 ? ", " : "") + kv.key().toStringRef() + ": " + Describe(kv.value());
    }
    return s + "}";
  }
  return v.tagKind();
}

// max |out - ref| / max |ref|.
double RelErr(const at::Tensor& out, const std::vector<double>& ref) {
  at::Tensor o = out.to(at::kDouble).contiguous();
  const double* p = o.data_ptr<double>();
  double diff = 0, scale = 1e-30;
  for (size_t k = 0; k < ref.size(); ++k) {
    diff = std::max(diff, std::fabs(p[k] - ref[k]));
    scale = std::max(scale, std::fabs(ref[k]));
  }
  return static_cast<size_t>(o.numel()) == ref.size() ? diff / scale : INFINITY;
}

void CheckRel(const std::string& what, const at::Tensor& out, const std::vector<double>& ref) {
  const double err = RelErr(out, ref);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "rel err %.3g", err);
  Check(what, err < kMaxRelErr, buf);
}

std::vector<double> ToDoubles(const at::Tensor& t) {
  at::Tensor d = t.to(at::kDouble).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

// y[b][i] = sum_j x[b][j] * W(i, j) + B(i), all in double.
std::vector<double> LinearRef(const std::vector<double>& x, int64_t batch, int64_t n_in,
                              int64_t n_out, const std::function<double(int64_t, int64_t)>& w,
                              const std::function<double(int64_t)>& b, bool relu) {
  std::vector<double> wd(n_out * n_in);
  for (int64_t i = 0; i < n_out; ++i)
    for (int64_t j = 0; j < n_in; ++j) wd[i * n_in + j] = w(i, j);
  std::vector<double> y(batch * n_out);
  for (int64_t r = 0; r < batch; ++r) {
    for (int64_t i = 0; i < n_out; ++i) {
      double acc = b(i);
      for (int64_t j = 0; j < n_in; ++j) acc += x[r * n_in + j] * wd[i * n_in + j];
      y[r * n_out + i] = relu ? std::max(acc, 0.0) : acc;
    }
  }
  return y;
}

// Formula layer l of tiny / mlp.
std::vector<double> FormulaLayer(const std::vector<double>& x, int64_t batch, int64_t n_in,
                                 int64_t n_out, int l, bool relu) {
  const double norm = std::sqrt(static_cast<double>(n_in));
  return LinearRef(
      x, batch, n_in, n_out,
      [&](int64_t i, int64_t j) { return std::sin(0.37 * i + 0.11 * j + l) / norm; },
      [&](int64_t i) { return std::cos(0.23 * i + l) * 0.1; }, relu);
}

bool AllFinite(const at::Tensor& t) { return at::isfinite(t).all().item<bool>(); }

double MillisOf(const std::function<void()>& f, int reps) {
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

std::string Demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string s = status == 0 ? d : name;
  free(d);
  return s;
}

torch::jit::Module LoadFromStream(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream bytes;
  bytes << f.rdbuf();
  std::istringstream in(bytes.str());
  return torch::jit::load(in);
}

c10::IValue Forward(torch::jit::Module& m, std::vector<c10::IValue> args) { return m.forward(std::move(args)); }

int64_t ParamCount(const torch::jit::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  for (const auto& b : m.buffers()) n += b.numel();
  return n;
}

void CheckModel(const std::string& name, torch::jit::Module& m) {
  at::NoGradGuard no_grad;
  if (name == "identity") {
    for (auto dtype : {at::kFloat, at::kDouble, at::kHalf, at::kInt, at::kLong, at::kByte,
                       at::kChar, at::kBool}) {
      at::Tensor x = dtype == at::kBool ? at::randn({2, 3}) > 0 : (at::randn({2, 3}) * 10).to(dtype);
      at::Tensor y = Forward(m, {x}).toTensor();
      Check(std::string("clone ") + c10::toString(dtype),
            y.scalar_type() == dtype && at::equal(x, y) && y.data_ptr() != x.data_ptr(), Shape(y));
    }
  } else if (name == "tiny") {
    at::Tensor x = at::randn({3, 16});
    at::Tensor y = Forward(m, {x}).toTensor();
    std::printf("  output %s\n", Shape(y).c_str());
    CheckRel("tiny vs double loop", y, FormulaLayer(ToDoubles(x), 3, 16, 16, 1, false));
  } else if (name == "mlp") {
    at::Tensor x = at::randn({2, 256});
    at::Tensor y = Forward(m, {x}).toTensor();
    std::printf("  output %s, |y|max %.3f\n", Shape(y).c_str(), y.abs().max().item<double>());
    std::vector<double> h = FormulaLayer(ToDoubles(x), 2, 256, 1024, 1, true);
    h = FormulaLayer(h, 2, 1024, 1024, 2, true);
    CheckRel("mlp vs double loop", y, FormulaLayer(h, 2, 1024, 10, 3, false));
  } else if (name == "two_input") {
    at::Tensor x = at::randn({3, 8}), y = at::randn({3, 4});
    at::Tensor out = Forward(m, {x, y}).toTensor();
    std::printf("  output %s\n", Shape(out).c_str());
    std::vector<double> ref = LinearRef(
        ToDoubles(x), 3, 8, 4, [](int64_t i, int64_t j) { return std::sin(0.5 * j + 0.3 * i); },
        [](int64_t) { return 0.0; }, false);  // w is [in=8, out=4]: W(i_out, j_in) = w[j][i]
    std::vector<double> yd = ToDoubles(y);
    for (size_t k = 0; k < ref.size(); ++k) ref[k] += yd[k];
    CheckRel("two_input vs double loop", out, ref);
    at::Tensor kw = m.get_method("forward")({}, {{"y", y}, {"x", x}}).toTensor();
    Check("two_input keyword args (y=, x=)", at::equal(kw, out));
  } else if (name == "tuple_out") {
    at::Tensor x = at::randn({2, 3});
    c10::IValue out = Forward(m, {x});
    std::printf("  output %s\n", Describe(out).c_str());
    const auto& e = out.toTupleRef().elements();
    Check("tuple_out values", e.size() == 2 && at::equal(e[0].toTensor(), x + 1) &&
                                  at::equal(e[1].toTensor(), x * 2));
  } else if (name == "dict_out") {
    at::Tensor x = at::randn({2, 3});
    c10::IValue out = Forward(m, {x});
    std::printf("  output %s\n", Describe(out).c_str());
    auto d = out.toGenericDict();
    Check("dict_out values", d.size() == 2 && at::equal(d.at("double").toTensor(), x * 2) &&
                                 at::equal(d.at("negated").toTensor(), -x));
  } else if (name == "embedding") {
    at::Tensor ids = at::randint(0, 1000, {2, 5}, at::kLong);
    at::Tensor y = Forward(m, {ids}).toTensor();
    std::printf("  ids %s -> output %s\n", Shape(ids).c_str(), Shape(y).c_str());
    std::vector<double> ref(2 * 16, 0.0);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t l = 0; l < 5; ++l)
        for (int64_t j = 0; j < 16; ++j)
          ref[b * 16 + j] += std::sin(0.1 * ids[b][l].item<int64_t>() + j) / 5.0;
    CheckRel("embedding vs double loop", y, ref);
  } else if (name == "raises") {
    at::Tensor x = at::rand({4}) + 0.5;
    Check("raises: non-negative input returns x * 2", at::equal(Forward(m, {x}).toTensor(), x * 2));
    std::string msg;
    try {
      Forward(m, {x - 2.0});  // every element negative
    } catch (const std::exception& e) {
      msg = e.what();
      std::printf("  thrown %s; message tail: ...%s\n", Demangle(typeid(e).name()).c_str(),
                  msg.substr(msg.size() > 160 ? msg.size() - 160 : 0).c_str());
    }
    Check("raises: negative input throws 'negative input'", msg.find("negative input") != std::string::npos);
  } else if (name == "cost") {
    at::Tensor x = at::randn({1, 64});
    for (int i = 0; i < 3; ++i) Forward(m, {x, int64_t{10}});  // profiling-executor warm-up
    at::Tensor y = Forward(m, {x, int64_t{100}}).toTensor();
    std::printf("  output %s\n", Shape(y).c_str());
    Check("cost output finite, in (-1, 1)", AllFinite(y) && y.abs().max().item<double>() < 1.0);
    const double ms100 = MillisOf([&] { Forward(m, {x, int64_t{100}}); }, 9);
    const double ms1000 = MillisOf([&] { Forward(m, {x, int64_t{1000}}); }, 9);
    std::printf("  B=1 iters=100: %.3f ms, iters=1000: %.3f ms (%.2f us/iter)\n", ms100, ms1000,
                1000.0 * (ms1000 - ms100) / 900.0);
  } else if (name == "resnet18" || name == "resnet50") {
    for (const auto& size : std::vector<std::vector<int64_t>>{{1, 3, 64, 64}, {2, 3, 32, 32}, {1, 3, 40, 56}}) {
      at::Tensor y = Forward(m, {at::randn(size)}).toTensor();
      char buf[160];
      std::snprintf(buf, sizeof(buf), "%s -> %s, mean %.3f std %.3f |max| %.3f", Shape(at::randn(size)).c_str(),
                    Shape(y).c_str(), y.mean().item<double>(), y.std().item<double>(),
                    y.abs().max().item<double>());
      const bool order1 = y.std().item<double>() > 0.05 && y.abs().max().item<double>() < 50;
      Check("finite, O(1) logits", AllFinite(y) && y.size(1) == 1000 && order1, buf);
    }
    for (int64_t hw : {64, 224}) {
      at::Tensor x = at::randn({1, 3, hw, hw});
      Forward(m, {x});
      Forward(m, {x});
      std::printf("  CPU forward B=1 %lldx%lld: %.1f ms\n", (long long)hw, (long long)hw,
                  MillisOf([&] { Forward(m, {x}); }, 3));
    }
  }
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/model_zoo_check.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::printf("libtorch %s, dir %s\n", TORCH_VERSION, dir.c_str());
  std::string names;
  for (const auto& n : torchpool::BuiltinModelNames()) names += n + " ";
  std::printf("models: %s\n", names.c_str());

  for (const std::string& name : torchpool::BuiltinModelNames()) {
    const std::string path = dir + "/" + name + ".pt";
    auto t0 = std::chrono::steady_clock::now();
    const std::string err = torchpool::WriteBuiltinModel(name, path, kSeed);
    const double write_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("== %s\n", name.c_str());
    if (!err.empty()) {
      Check("write", false, err);
      continue;
    }
    struct stat st {};
    stat(path.c_str(), &st);
    t0 = std::chrono::steady_clock::now();
    torch::jit::Module m = torch::jit::load(path);
    const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("  file %.2f MB, %lld params, write %.0f ms, load %.0f ms\n", st.st_size / 1e6,
                (long long)ParamCount(m), write_ms, load_ms);
    CheckModel(name, m);

    // Stream loading must give the same model.
    torch::jit::Module ms = LoadFromStream(path);
    const auto& schema = ms.get_method("forward").function().getSchema();
    std::ostringstream sig;
    sig << schema;
    std::printf("  schema %s\n", sig.str().c_str());
    Check("stream load has identical parameters", [&] {
      auto a = m.named_parameters(), b = ms.named_parameters();
      if (a.size() != b.size()) return false;
      auto ib = b.begin();
      for (auto ia = a.begin(); ia != a.end(); ++ia, ++ib)
        if ((*ia).name != (*ib).name || !at::equal((*ia).value, (*ib).value)) return false;
      return true;
    }());
  }

  std::printf("== determinism / errors\n");
  {
    auto params = [](const std::string& p) {
      std::vector<at::Tensor> v;
      for (const auto& t : torch::jit::load(p).parameters()) v.push_back(t);
      return v;
    };
    const std::string again = dir + "/resnet18_again.pt", other = dir + "/resnet18_seed7.pt";
    torchpool::WriteBuiltinModel("resnet18", again, kSeed);
    torchpool::WriteBuiltinModel("resnet18", other, 7);
    auto a = params(dir + "/resnet18.pt"), b = params(again), c = params(other);
    bool same = a.size() == b.size(), differ = false;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) same = same && at::equal(a[i], b[i]);
    for (size_t i = 0; i < a.size() && i < c.size(); ++i) differ = differ || !at::equal(a[i], c[i]);
    Check("same seed -> identical weights", same);
    Check("other seed -> different weights", differ);
    std::string e1 = torchpool::WriteBuiltinModel("nope", dir + "/nope.pt", 1);
    Check("unknown name reports error", !e1.empty(), e1);
    std::string e2 = torchpool::WriteBuiltinModel("tiny", dir + "/no/such/dir/tiny.pt", 1);
    Check("unwritable path reports error", !e2.empty(), e2);
  }

  std::filesystem::remove_all(dir);  // ~250 MB of model files
  std::printf("%s (%d failure%s)\n", g_failures ? "FAILED" : "ALL PASSED", g_failures, g_failures == 1 ? "" : "s");
  return g_failures ? 1 : 0;
}
