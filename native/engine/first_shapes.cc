#include "engine/first_shapes.h"

#include "engine/dtype_name.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <map>

namespace torchpool {
namespace {

void Describe(const c10::IValue& value, std::string* key) {
  if (value.isTensor()) {
    const at::Tensor& t = value.toTensor();
    *key += DtypeName(t.scalar_type());
    *key += '[';
    for (int64_t d = 0; d < t.dim(); ++d) *key += (d > 0 ? "," : "") + std::to_string(t.size(d));
    *key += ']';
  } else if (value.isList() || value.isTuple()) {
    *key += '(';
    if (value.isList()) {
      for (const c10::IValue& item : value.toList()) Describe(item, key), *key += ' ';
    } else {
      for (const c10::IValue& item : value.toTupleRef().elements()) Describe(item, key), *key += ' ';
    }
    *key += ')';
  } else {
    *key += value.tagKind();  // other arguments: their kind (values do not change the plan)
  }
}

}  // namespace

std::string InputShapeKey(const std::vector<c10::IValue>& args,
                          const std::unordered_map<std::string, c10::IValue>& kwargs) {
  std::string key;
  for (const c10::IValue& arg : args) {
    if (!key.empty()) key += ' ';
    Describe(arg, &key);
  }
  // Keyword arguments in name order: the map's order is not stable.
  std::map<std::string, const c10::IValue*> named;
  for (const auto& [name, value] : kwargs) named[name] = &value;
  for (const auto& [name, value] : named) {
    if (!key.empty()) key += ' ';
    key += name + '=';
    Describe(*value, &key);
  }
  return key;
}

bool FirstShapes::IsNew(const std::string& key) {
  if (known_.count(key) > 0) return false;
  if (known_.size() < kMaxKnown) known_.insert(key);
  std::lock_guard<std::mutex> lock(mutex_);
  ++known_count_;
  return true;
}

void FirstShapes::Record(const std::string& key, double ms, bool warmup) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (warmup) {
    warmed_.push_back(key);
    return;
  }
  ++forwards_;
  total_ms_ += ms;
  max_ms_ = std::max(max_ms_, ms);
  recent_.emplace_back(key, ms);
  if (recent_.size() > kRecent) recent_.pop_front();
}

void FirstShapes::SetWarmupMs(double ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  warmup_ms_ = ms;
}

FirstShapes::Stats FirstShapes::Snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Stats stats;
  stats.forwards = forwards_;
  stats.total_ms = total_ms_;
  stats.max_ms = max_ms_;
  stats.recent.assign(recent_.begin(), recent_.end());
  stats.known = known_count_;
  stats.warmed = warmed_;
  stats.warmup_ms = warmup_ms_;
  return stats;
}

}  // namespace torchpool
