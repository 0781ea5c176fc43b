#include "binding/pool_workers.h"

#include <algorithm>
#include <map>

#include "binding/errors.h"
#include "binding/pool_wrap.h"
#include "engine/device_scope.h"
#include "engine/engine_factory.h"
#include "engine/runner/extensions.h"

namespace torchpool {

LoadWorker::LoadWorker(Napi::Env env, PoolWrap* pool, LoadPlan plan)
    : Napi::AsyncWorker(env, "torchpool:load"),
      pool_(pool),
      pool_ref_(Napi::Persistent(pool->Value())),
      plan_(std::move(plan)),
      deferred_(Napi::Promise::Deferred::New(env)) {
  if (!plan_.model_buffer.IsEmpty()) {
    // The Buffer stays referenced until OnOK, so its memory can be read from the worker.
    Napi::Buffer<char> buffer = plan_.model_buffer.Value();
    buffer_data_ = buffer.Data();
    buffer_size_ = buffer.Length();
  }
}

void LoadWorker::Execute() {
  status_ = LoadExtensions(plan_.extensions);
  if (!status_.ok()) return;
  ModelSource model;
  if (plan_.model_path.empty()) {
    status_ = ModelFromBytes(std::string(buffer_data_, buffer_size_), &model);
  } else {
    status_ = ReadModelFile(plan_.model_path, &model);
  }
  if (!status_.ok()) return;
  status_ = CheckEnginePlan(plan_.engines);
  if (!status_.ok()) return;
  warnings_ = ApplyGlobalSettings(plan_);
  std::map<std::string, size_t> engines_on_device;
  for (const EngineConfig& config : plan_.engines) ++engines_on_device[config.device.str()];
  for (EngineConfig config : plan_.engines) {
    // Everything an engine creates at load (replica, streams, events, warmup) on its own GPU.
    DeviceScope device_scope(config.device);
    std::unique_ptr<ModelRunner> runner;
    status_ = LoadRunner(model, config.device, plan_.runner, config.execution, engines_on_device[config.device.str()], &runner);
    if (!status_.ok()) break;
    if (engines_.empty()) {
      signature_ = runner->Signature();
      signature_.set_format(runner->Format());
      signature_.set_quantized(runner->Quantized());
      format_ = runner->Format();
      // What names mean, now that the signature says: padded inputs and named warmup inputs.
      status_ = ResolveNames(signature_);
      if (!status_.ok()) break;
    }
    config.execution.padding = padding_;
    config.execution.warmup = warmup_;
    try {
      engines_.push_back(MakeEngine(config, std::move(runner)));
    } catch (...) {
      status_ = StatusFromCurrentException(ErrorCode::kCuda);
      break;
    }
    // Its thread starts warming up now, while the next replica loads.
    engines_.back()->Launch();
  }
  ForgetTemporaryFile(&model);
  model.per_device.clear();  // the runners keep what they share
  for (auto& engine : engines_) {
    Status warm = engine->AwaitWarm();
    if (status_.ok() && !warm.ok()) status_ = warm;
  }
}

Status LoadWorker::ResolveNames(const ForwardSignature& signature) {
  padding_ = plan_.engines.front().execution.padding;
  TORCHPOOL_RETURN_IF_ERROR(ResolvePadding(&padding_, signature));
  warmup_ = plan_.engines.front().execution.warmup;
  const auto& arguments = signature.arguments();
  for (size_t w = 0; w < warmup_.size(); ++w) {
    WarmupShape& shape = warmup_[w];
    if (shape.named.empty()) continue;
    // In forward's order, from its first argument on, with no gap.
    std::vector<WarmupTensor> ordered;
    for (size_t i = 0; i < arguments.size() && ordered.size() < shape.named.size(); ++i) {
      auto it = std::find_if(shape.named.begin(), shape.named.end(), [&](const auto& n) { return n.first == arguments[i].name; });
      if (it == shape.named.end()) {
        return Status(ErrorCode::kInvalidArg, "options.warmup[" + std::to_string(w) + "].inputs: it has no '" + arguments[i].name +
                                                 "', but the model's next input is that one (give the inputs from forward's first on)");
      }
      ordered.push_back(it->second);
    }
    if (ordered.size() != shape.named.size()) {
      std::string names;
      for (const auto& a : arguments) names += (names.empty() ? "'" : ", '") + a.name + "'";
      return Status(ErrorCode::kInvalidArg, "options.warmup[" + std::to_string(w) + "].inputs: names an input forward does not have (its inputs are " + names + ")");
    }
    shape.shape = ordered.front().shape;
    shape.dtype = ordered.front().dtype;
    shape.rest.assign(ordered.begin() + 1, ordered.end());
    shape.named.clear();
  }
  return Status::Ok();
}

void LoadWorker::OnOK() {
  Napi::Env env = Env();
  if (status_.ok()) {
    pool_->OnLoaded(std::move(engines_), std::move(signature_), plan_.scheduler, std::move(padding_));
    Napi::Array warnings = Napi::Array::New(env, warnings_.size());
    for (size_t i = 0; i < warnings_.size(); ++i) warnings.Set(static_cast<uint32_t>(i), warnings_[i]);
    Napi::Object result = Napi::Object::New(env);
    result.Set("warnings", warnings);
    result.Set("format", format_);
    deferred_.Resolve(result);
  } else {
    engines_.clear();
    pool_->OnLoadFailed();
    deferred_.Reject(MakeError(env, status_));
  }
}

CloseWorker::CloseWorker(Napi::Env env, PoolWrap* pool, std::shared_ptr<PoolCore> core)
    : Napi::AsyncWorker(env, "torchpool:close"),
      pool_(pool),
      pool_ref_(Napi::Persistent(pool->Value())),
      core_(std::move(core)),
      deferred_(Napi::Promise::Deferred::New(env)) {}

void CloseWorker::Execute() {
  // A forward that is running finishes first; this may take as long as one forward. Freeing the
  // replicas (hundreds of MB for a large model) also happens here, off the JS thread.
  core_->JoinEngines();
  core_->ReleaseEngines();
}

void CloseWorker::OnOK() {
  pool_->OnEnginesJoined(Env());
  deferred_.Resolve(Env().Undefined());
}

}  // namespace torchpool
