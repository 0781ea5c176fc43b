// The limit for a machine: the same TorchScript forward called in a plain C++ loop, with no
// queue, no thread hand-off and no JavaScript. Host input in, host output out, like torchpool.
//   torchpool-raw-forward --model m.pt --device cuda:0 --shape 8,3,224,224 [--int-arg 100]
//                         [--iters 200] [--warmup 20] [--threads 2] [--half 1] [--qengine qnnpack]
//                         [--mask 1]
// --mask 1: a second input, a bool key-padding mask [shape[0], shape[1]] of all false (the text
// encoder of bench/padding.mjs). Tuple outputs come back to the host element by element.
// --half 1: weights in fp16, the float input cast to fp16 on the device, the output back as
// float32 (what torchpool's precision: 'fp16' does).
// Prints one JSON line: per-iteration latency percentiles in microseconds, and the p50 of the
// forward call alone (on a GPU: the kernels queued, not run), to set beside torchpool's forwardMs.
#include <torch/script.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::vector<int64_t> ParseShape(const std::string& text) {
  std::vector<int64_t> shape;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    shape.push_back(std::stoll(text.substr(start, comma - start)));
    start = comma + 1;
  }
  return shape;
}

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  size_t index = std::min(values.size() - 1, static_cast<size_t>(p * (values.size() - 1) + 0.5));
  return values[index];
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, device_name = "cpu", shape_text = "1,16";
  int iters = 200, warmup = 20, threads = 0;
  long long int_arg = -1;
  bool half = false, mask = false;
  std::string qengine;  // the quantized engine for INT8 models, as torchpool's quantizedEngine names it
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--model") model_path = value;
    else if (flag == "--device") device_name = value;
    else if (flag == "--shape") shape_text = value;
    else if (flag == "--iters") iters = std::stoi(value);
    else if (flag == "--warmup") warmup = std::stoi(value);
    else if (flag == "--threads") threads = std::stoi(value);
    else if (flag == "--int-arg") int_arg = std::stoll(value);
    else if (flag == "--half") half = value == "1";
    else if (flag == "--qengine") qengine = value;
    else if (flag == "--mask") mask = value == "1";
  }
  try {
    if (threads > 0) at::set_num_threads(threads);
    // Before the load: a quantized model's weights are packed for the engine in use then.
    for (at::QEngine engine : at::globalContext().supportedQEngines()) {
      std::string name = c10::toString(engine);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name == qengine) at::globalContext().setQEngine(engine);
    }
    c10::InferenceMode inference_mode;
    c10::Device device(device_name);
    torch::jit::Module module = torch::jit::load(model_path, device);
    module.eval();
    if (half) module.to(at::kHalf);
    std::vector<int64_t> shape = ParseShape(shape_text);
    at::Tensor input = at::rand(shape);
    at::Tensor mask_input = mask ? at::zeros({shape.at(0), shape.at(1)}, at::kBool) : at::Tensor();
    std::vector<double> micros, forward_micros;
    for (int i = 0; i < warmup + iters; ++i) {
      auto start = std::chrono::steady_clock::now();
      at::Tensor x = input.to(device);
      if (half) x = x.to(at::kHalf);
      std::vector<c10::IValue> args{x};
      if (mask) args.emplace_back(mask_input.to(device));
      if (int_arg >= 0) args.emplace_back(static_cast<int64_t>(int_arg));
      auto forward_start = std::chrono::steady_clock::now();
      c10::IValue result = module.forward(std::move(args));
      auto forward_end = std::chrono::steady_clock::now();
      std::vector<at::Tensor> outputs;
      if (result.isTuple()) {
        for (const c10::IValue& element : result.toTupleRef().elements()) outputs.push_back(element.toTensor().to(at::kFloat).to(at::kCPU));
      } else {
        outputs.push_back(result.toTensor().to(at::kFloat).to(at::kCPU));
      }
      auto end = std::chrono::steady_clock::now();
      if (i >= warmup) {
        micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
        forward_micros.push_back(std::chrono::duration<double, std::micro>(forward_end - forward_start).count());
      }
    }
    double sum = 0;
    for (double m : micros) sum += m;
    std::printf("{\"p50_us\":%.2f,\"p99_us\":%.2f,\"mean_us\":%.2f,\"forward_p50_us\":%.2f,\"iters\":%d,\"threads\":%d}\n",
                Percentile(micros, 0.5), Percentile(micros, 0.99), sum / micros.size(), Percentile(forward_micros, 0.5), iters,
                at::get_num_threads());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "raw_forward: %s\n", e.what());
    return 1;
  }
}
