// PoolWrap::ProfileStart / ProfileStop (JS thread): pool.profile() turns the pool's operator
// recording on (engine/op_profiler.h), and on a pool with CUDA engines the GPU's own activity
// (engine/kernel_trace.h), and when it is done, takes the events. lib/profile.ts turns them into
// a Chrome trace and the tables of the slowest operators and kernels.

#include <chrono>
#include <map>

#include "binding/errors.h"
#include "binding/pool_wrap.h"

namespace torchpool {

Napi::Value PoolWrap::ProfileStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != State::kReady || !core_) ThrowError(env, ErrorCode::kClosed, "the pool is closed");
  if (!core_->profiler().Start()) {
    ThrowError(env, ErrorCode::kBusy, "a profile of this pool is being recorded already: wait for its profile() to settle");
  }
  kernel_note_.clear();
  bool cuda = false;
  for (const EngineStats& engine : core_->EngineStatsSnapshot()) cuda = cuda || engine.has_cuda;
  if (cuda) kernel_trace_.Start(&kernel_note_);
  return env.Undefined();
}

// { names: string[], events: Float64Array [name, engine, startUs, durationUs] per event, dropped,
//   kernels: Float64Array [name, device, startUs, durationUs] per GPU activity, kernelNote? }
Napi::Value PoolWrap::ProfileStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Kineto is stopped first, even for a pool closed meanwhile: it records the whole process.
  std::vector<KernelEvent> kernels = kernel_trace_.Stop(&kernel_note_);
  if (!core_) ThrowError(env, ErrorCode::kClosed, "the pool is closed");
  uint64_t dropped = 0;
  std::vector<OpEvent> events = core_->profiler().Stop(&dropped);
  // Both tables: [name index, engine or device, startUs, durationUs] per event, names shared.
  std::map<std::string, uint32_t> index;
  Napi::Array names = Napi::Array::New(env);
  auto to_table = [&](const auto& list, auto lane_of) {
    Napi::Float64Array table = Napi::Float64Array::New(env, list.size() * 4);
    for (size_t i = 0; i < list.size(); ++i) {
      const auto& e = list[i];
      auto [it, added] = index.emplace(e.name, static_cast<uint32_t>(index.size()));
      if (added) names.Set(it->second, e.name);
      table[i * 4] = it->second;
      table[i * 4 + 1] = lane_of(e);
      table[i * 4 + 2] = static_cast<double>(e.start_ns) / 1000.0;
      table[i * 4 + 3] = static_cast<double>(e.duration_ns) / 1000.0;
    }
    return table;
  };
  Napi::Float64Array table = to_table(events, [](const OpEvent& e) { return e.engine; });
  Napi::Float64Array kernel_table = to_table(kernels, [](const KernelEvent& k) { return k.device; });
  Napi::Object result = Napi::Object::New(env);
  result.Set("names", names);
  result.Set("kernels", kernel_table);
  if (!kernel_note_.empty()) result.Set("kernelNote", kernel_note_);
  result.Set("events", table);
  result.Set("dropped", static_cast<double>(dropped));
  return result;
}

}  // namespace torchpool
