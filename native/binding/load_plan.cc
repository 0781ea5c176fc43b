// ParseLoadPlan: the plan lib/options.ts built (already validated there) becomes the plain
// C++ struct the load worker uses, before any work leaves the JS thread.

#include <ATen/Context.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <cctype>
#include <functional>
#include <mutex>

#include "binding/dtypes.h"
#include "binding/errors.h"
#include "binding/pool_workers.h"

namespace torchpool {
namespace {

Precision ParsePrecision(const std::string& name) {
  if (name == "fp16") return Precision::kFp16;
  if (name == "bf16") return Precision::kBf16;
  if (name == "autocast") return Precision::kAutocast;
  return Precision::kFp32;
}

OutputDtype ParseOutputDtype(const std::string& name) {
  if (name == "float16") return OutputDtype::kFloat16;
  if (name == "model") return OutputDtype::kModel;
  return OutputDtype::kFloat32;
}

ExecutionOptions ParseExecution(Napi::Env env, Napi::Object execution) {
  ExecutionOptions out;
  out.precision = ParsePrecision(execution.Get("precision").As<Napi::String>().Utf8Value());
  out.output_dtype = ParseOutputDtype(execution.Get("outputDtype").As<Napi::String>().Utf8Value());
  out.channels_last = execution.Get("channelsLast").ToBoolean().Value();
  out.pipeline_depth = execution.Get("pipelineDepth").As<Napi::Number>().Int32Value();
  out.fill_while_busy = execution.Get("fillWhileBusy").ToBoolean().Value();
  out.pinned_memory_bytes = static_cast<size_t>(execution.Get("pinnedMemoryBytes").As<Napi::Number>().DoubleValue());
  out.cuda_graphs = execution.Get("cudaGraphs").ToBoolean().Value();
  out.max_cuda_graphs = execution.Get("maxCudaGraphs").As<Napi::Number>().Int32Value();
  Napi::Value buckets = execution.Get("batchBuckets");
  if (buckets.IsArray()) {
    Napi::Array list = buckets.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); ++i) out.batch_buckets.push_back(static_cast<int64_t>(list.Get(i).As<Napi::Number>().DoubleValue()));
  }
  out.optimized_execution = execution.Get("optimizedExecution").ToBoolean().Value();
  auto tensor = [&env](Napi::Object entry, const std::string& where) {
    WarmupTensor t;
    Napi::Array dims = entry.Get("shape").As<Napi::Array>();
    for (uint32_t d = 0; d < dims.Length(); ++d) t.shape.push_back(static_cast<int64_t>(dims.Get(d).As<Napi::Number>().DoubleValue()));
    const std::string dtype = entry.Get("dtype").As<Napi::String>().Utf8Value();
    const DtypeInfo* info = FindDtype(dtype);
    if (info == nullptr) ThrowError(env, ErrorCode::kInvalidArg, where + ": unknown dtype " + dtype);
    t.dtype = info->scalar_type;
    return t;
  };
  Napi::Array warmup = execution.Get("warmup").As<Napi::Array>();
  for (uint32_t i = 0; i < warmup.Length(); ++i) {
    Napi::Object entry = warmup.Get(i).As<Napi::Object>();
    const std::string where = "warmup[" + std::to_string(i) + "]";
    WarmupShape shape;
    Napi::Value inputs = entry.Get("inputs");
    if (inputs.IsObject()) {
      // Named inputs: put in forward's order at load, when the signature is known.
      Napi::Object named = inputs.As<Napi::Object>();
      Napi::Array names = named.GetPropertyNames();
      for (uint32_t n = 0; n < names.Length(); ++n) {
        const std::string name = names.Get(n).As<Napi::String>().Utf8Value();
        shape.named.emplace_back(name, tensor(named.Get(name).As<Napi::Object>(), where + ".inputs." + name));
      }
    } else {
      WarmupTensor t = tensor(entry, where);
      shape.shape = std::move(t.shape);
      shape.dtype = t.dtype;
    }
    out.warmup.push_back(std::move(shape));
  }
  Napi::Value padding = execution.Get("padding");
  if (padding.IsObject()) {
    Napi::Object inputs = padding.As<Napi::Object>().Get("inputs").As<Napi::Object>();
    Napi::Array names = inputs.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      PaddedInput input;
      input.name = names.Get(i).As<Napi::String>().Utf8Value();
      Napi::Object spec = inputs.Get(input.name).As<Napi::Object>();
      input.axis = static_cast<int64_t>(spec.Get("axis").As<Napi::Number>().DoubleValue());
      input.value = spec.Get("value").As<Napi::Number>().DoubleValue();
      out.padding.inputs.push_back(std::move(input));
    }
    Napi::Array buckets = padding.As<Napi::Object>().Get("buckets").As<Napi::Array>();
    for (uint32_t i = 0; i < buckets.Length(); ++i) out.padding.buckets.push_back(static_cast<int64_t>(buckets.Get(i).As<Napi::Number>().DoubleValue()));
  }
  return out;
}

}  // namespace

LoadPlan ParseLoadPlan(Napi::Env env, Napi::Object options) {
  LoadPlan plan;
  Napi::Value model = options.Get("model");
  if (model.IsBuffer()) {
    plan.model_buffer = Napi::Persistent(model.As<Napi::Buffer<char>>());
  } else {
    plan.model_path = model.As<Napi::String>().Utf8Value();
  }
  Napi::Array devices = options.Get("devices").As<Napi::Array>();
  Napi::Array threads = options.Get("threads").As<Napi::Array>();
  Napi::Array instances = options.Get("instances").As<Napi::Array>();
  const int unhealthy_after = options.Get("unhealthyAfter").As<Napi::Number>().Int32Value();
  Napi::Object execution_js = options.Get("execution").As<Napi::Object>();
  const ExecutionOptions execution = ParseExecution(env, execution_js);
  // Buckets pad CPU batches only when asked for: there a new batch size costs little, padding
  // rows cost compute.
  const bool buckets_on_cpu = execution_js.Get("bucketsOnCpu").ToBoolean().Value();
  for (uint32_t i = 0; i < devices.Length(); ++i) {
    std::string name = devices.Get(i).As<Napi::String>().Utf8Value();
    EngineConfig config;
    config.index = static_cast<int>(i);
    try {
      config.device = c10::Device(name);
    } catch (...) {
      ThrowError(env, ErrorCode::kInvalidArg, "devices[" + std::to_string(i) + "]: '" + name +
                                                  "' is not a device (expected 'cpu' or 'cuda:N')");
    }
    config.intra_op_threads = std::max(1, threads.Get(i).As<Napi::Number>().Int32Value());
    config.instance = instances.Get(i).As<Napi::Number>().Int32Value();
    config.unhealthy_after = unhealthy_after;
    config.execution = execution;
    if (config.device.is_cpu() && !buckets_on_cpu) config.execution.batch_buckets.clear();
    plan.engines.push_back(config);
  }
  plan.runner.optimize = options.Get("optimize").ToBoolean().Value();
  Napi::Value format = options.Get("format");
  if (format.IsString()) plan.runner.format = format.As<Napi::String>().Utf8Value();
  Napi::Value model_name = options.Get("modelName");
  if (model_name.IsString()) plan.runner.model_name = model_name.As<Napi::String>().Utf8Value();
  Napi::Value extensions = options.Get("extensions");
  if (extensions.IsArray()) {
    Napi::Array list = extensions.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); ++i) plan.extensions.push_back(list.Get(i).As<Napi::String>().Utf8Value());
  }
  Napi::Value benchmark = options.Get("cudnnBenchmark");
  if (benchmark.IsBoolean()) plan.cudnn_benchmark = benchmark.As<Napi::Boolean>().Value() ? 1 : 0;
  Napi::Value tf32 = options.Get("allowTF32");
  if (tf32.IsBoolean()) plan.allow_tf32 = tf32.As<Napi::Boolean>().Value() ? 1 : 0;
  Napi::Value profiling = execution_js.Get("profilingExecutor");
  if (profiling.IsBoolean()) plan.profiling_executor = profiling.As<Napi::Boolean>().Value() ? 1 : 0;
  Napi::Value qengine = options.Get("quantizedEngine");
  if (qengine.IsString()) plan.quantized_engine = qengine.As<Napi::String>().Utf8Value();
  Napi::Value fuser = execution_js.Get("tensorExprFuser");
  if (fuser.IsBoolean()) plan.tensor_expr_fuser = fuser.As<Napi::Boolean>().Value() ? 1 : 0;
  Napi::Object scheduling = options.Get("scheduler").As<Napi::Object>();
  auto number = [&](const char* name) { return scheduling.Get(name).As<Napi::Number>().DoubleValue(); };
  plan.scheduler.max_batch_rows = static_cast<int64_t>(number("maxBatchSize"));
  plan.scheduler.max_queue_delay = std::chrono::microseconds(static_cast<int64_t>(number("maxQueueDelayMicros")));
  plan.scheduler.spin = std::chrono::microseconds(static_cast<int64_t>(number("spinMicros")));
  plan.scheduler.priority_aging = std::chrono::microseconds(static_cast<int64_t>(number("priorityAgingMs") * 1000));
  plan.scheduler.max_queue_size = static_cast<size_t>(number("maxQueueSize"));
  Napi::Value batch_buckets = scheduling.Get("batchBuckets");
  if (batch_buckets.IsArray()) {
    Napi::Array list = batch_buckets.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); ++i) plan.scheduler.batch_buckets.push_back(static_cast<int64_t>(list.Get(i).As<Napi::Number>().DoubleValue()));
  }
  for (EngineConfig& config : plan.engines) config.max_batch_rows = plan.scheduler.max_batch_rows;
  return plan;
}

namespace {

// What torchpool set process-wide, and by which pool first: -1 unset, 0 false, 1 true.
struct ProcessSettings {
  std::mutex mutex;
  int cudnn_benchmark = -1;
  int allow_tf32 = -1;
  int profiling_executor = -1;
  int tensor_expr_fuser = -1;
  std::string quantized_engine;
};

ProcessSettings& Settings() {
  static ProcessSettings* settings = new ProcessSettings();  // shared by every thread, never freed
  return *settings;
}

// The first pool that names a switch sets it; a later pool that asks otherwise leaves it and
// is told, because changing it would change the numerics of the pools already running.
void ApplyOnce(int wanted, int* applied, const char* name, std::vector<std::string>* warnings,
               const std::function<void(bool)>& set) {
  if (wanted < 0) return;
  if (*applied < 0) {
    set(wanted == 1);
    *applied = wanted;
  } else if (*applied != wanted) {
    warnings->push_back(std::string(name) + ": this pool asked for " + (wanted ? "true" : "false") +
                        ", but an earlier pool of this process set it to " + (*applied ? "true" : "false") +
                        "; it is process-wide and only the first pool's choice applies (left as it is)");
  }
}

}  // namespace

std::vector<std::string> ApplyGlobalSettings(const LoadPlan& plan) {
  std::vector<std::string> warnings;
  ProcessSettings& settings = Settings();
  std::lock_guard<std::mutex> lock(settings.mutex);
  at::Context& context = at::globalContext();
  ApplyOnce(plan.cudnn_benchmark, &settings.cudnn_benchmark, "cudnnBenchmark", &warnings,
            [&context](bool on) { context.setBenchmarkCuDNN(on); });
  ApplyOnce(plan.allow_tf32, &settings.allow_tf32, "allowTF32", &warnings, [&context](bool on) {
    context.setAllowTF32CuBLAS(on);
    context.setAllowTF32CuDNN(on);
  });
  // TorchScript's executor: read when a method first runs (before any forward of this pool).
  ApplyOnce(plan.profiling_executor, &settings.profiling_executor, "torchscript.profilingExecutor", &warnings,
            [](bool on) { torch::jit::getProfilingMode() = on; });
  ApplyOnce(plan.tensor_expr_fuser, &settings.tensor_expr_fuser, "torchscript.tensorExprFuser", &warnings,
            [](bool on) { torch::jit::setTensorExprFuserEnabled(on); });
  // Before any model loads: a quantized model's weights are packed for the engine current then.
  if (!plan.quantized_engine.empty()) {
    if (settings.quantized_engine.empty()) {
      for (at::QEngine engine : context.supportedQEngines()) {
        if (QEngineName(engine) == plan.quantized_engine) context.setQEngine(engine);
      }
      settings.quantized_engine = plan.quantized_engine;
    } else if (settings.quantized_engine != plan.quantized_engine) {
      warnings.push_back("quantizedEngine: this pool asked for '" + plan.quantized_engine + "', but an earlier pool of this process set it to '" +
                         settings.quantized_engine + "'; it is process-wide and only the first pool's choice applies (left as it is)");
    }
  }
  return warnings;
}

std::string QEngineName(at::QEngine engine) {
  std::string name = c10::toString(engine);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

ProcessSettingsValues ProcessSettingsSnapshot() {
  ProcessSettings& settings = Settings();
  std::lock_guard<std::mutex> lock(settings.mutex);
  return {settings.cudnn_benchmark, settings.allow_tf32, settings.profiling_executor, settings.tensor_expr_fuser, settings.quantized_engine};
}

}  // namespace torchpool
