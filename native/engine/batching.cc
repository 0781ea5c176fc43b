#include "engine/batching.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

namespace torchpool {
namespace {

// Slices at least this large get their own storage on the engine thread, so the binding can
// hand them to JS without a copy (smaller ones are copied there, which is cheaper than a clone).
constexpr int64_t kOwnStorageBytes = 64 * 1024;

// Appends a description of one argument to `key`; false if it cannot take part in a batch.
// `any_axis`: a padded axis (padding), whose size does not have to agree within a batch.
bool DescribeArgument(const c10::IValue& value, int64_t* rows, std::string* key, int64_t any_axis = -1) {
  if (value.isTensor()) {
    const at::Tensor& t = value.toTensor();
    if (t.dim() == 0 || t.size(0) == 0) return false;
    if (*rows >= 0 && t.size(0) != *rows) return false;
    *rows = t.size(0);
    *key += 'T';
    *key += c10::toString(t.scalar_type());
    *key += t.device().str();
    for (int64_t d = 1; d < t.dim(); ++d) *key += d == any_axis ? std::string(",*") : "," + std::to_string(t.size(d));
  } else if (value.isNone()) {
    *key += 'n';
  } else if (value.isBool()) {
    *key += value.toBool() ? "b1" : "b0";
  } else if (value.isInt()) {
    *key += 'i' + std::to_string(value.toInt());
  } else if (value.isDouble()) {
    double d = value.toDouble();
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    *key += 'd' + std::to_string(bits);
  } else if (value.isString()) {
    const std::string& s = value.toStringRef();
    *key += 's' + std::to_string(s.size()) + ':' + s;
  } else {
    return false;
  }
  *key += ';';
  return true;
}

at::Tensor Concat(const std::vector<RequestPtr>& members, const c10::IValue* (*pick)(const Request&, const void*),
                  const void* which) {
  std::vector<at::Tensor> parts;
  parts.reserve(members.size());
  for (const RequestPtr& m : members) parts.push_back(pick(*m, which)->toTensor());
  return at::cat(parts, 0);
}

const c10::IValue* PositionalArg(const Request& r, const void* index) {
  return &r.args[*static_cast<const size_t*>(index)];
}

const c10::IValue* NamedArg(const Request& r, const void* name) {
  return &r.kwargs.at(*static_cast<const std::string*>(name));
}

struct Splitter {
  const std::vector<int64_t>& rows;
  int64_t total;
  std::string why;
  bool check_only = false;  // only say whether it splits: no slices (the output may be on a GPU)

  // One value per member, or an empty vector when `value` cannot be split.
  std::vector<c10::IValue> Split(const c10::IValue& value, const std::string& where) {
    std::vector<c10::IValue> out;
    if (value.isTensor()) {
      const at::Tensor& t = value.toTensor();
      if (t.dim() == 0 || t.size(0) != total) {
        std::string shape;
        for (int64_t d : t.sizes()) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
        why = "output" + where + " has shape [" + shape + "], not " +
              std::to_string(total) + " rows in dim 0 like the batched input";
        return {};
      }
      if (check_only) return std::vector<c10::IValue>(rows.size(), c10::IValue());
      int64_t offset = 0;
      for (int64_t n : rows) {
        at::Tensor slice = t.narrow(0, offset, n);
        if (static_cast<int64_t>(slice.nbytes()) >= kOwnStorageBytes) slice = slice.clone();
        out.emplace_back(std::move(slice));
        offset += n;
      }
      return out;
    }
    if (value.isTuple()) {
      const auto& elements = value.toTupleRef().elements();
      std::vector<std::vector<c10::IValue>> columns;
      for (size_t i = 0; i < elements.size(); ++i) {
        columns.push_back(Split(elements[i], where + "[" + std::to_string(i) + "]"));
        if (columns.back().empty()) return {};
      }
      for (size_t m = 0; m < rows.size(); ++m) {
        std::vector<c10::IValue> items;
        for (auto& column : columns) items.push_back(std::move(column[m]));
        out.emplace_back(c10::ivalue::Tuple::create(std::move(items)));
      }
      return out;
    }
    if (value.isTensorList() || value.isList()) {
      c10::impl::GenericList in = value.isTensorList() ? c10::impl::toList(value.toTensorList())
                                                       : value.toList();
      std::vector<std::vector<c10::IValue>> columns;
      for (size_t i = 0; i < in.size(); ++i) {
        columns.push_back(Split(in.get(i), where + "[" + std::to_string(i) + "]"));
        if (columns.back().empty()) return {};
      }
      for (size_t m = 0; m < rows.size(); ++m) {
        c10::impl::GenericList list(in.elementType());
        for (auto& column : columns) list.push_back(std::move(column[m]));
        if (value.isTensorList()) {
          out.emplace_back(c10::impl::toTypedList<at::Tensor>(std::move(list)));
        } else {
          out.emplace_back(std::move(list));
        }
      }
      return out;
    }
    if (value.isGenericDict()) {
      c10::impl::GenericDict in = value.toGenericDict();
      std::vector<c10::impl::GenericDict> dicts;
      for (size_t m = 0; m < rows.size(); ++m) dicts.emplace_back(in.keyType(), in.valueType());
      for (const auto& entry : in) {
        const c10::IValue& key = entry.key();
        std::string name = key.isString() ? key.toStringRef() : key.isInt() ? std::to_string(key.toInt()) : "?";
        std::vector<c10::IValue> column = Split(entry.value(), where + "." + name);
        if (column.empty()) return {};
        for (size_t m = 0; m < rows.size(); ++m) dicts[m].insert(key, std::move(column[m]));
      }
      for (auto& dict : dicts) out.emplace_back(std::move(dict));
      return out;
    }
    why = "output" + where + " is a " + value.tagKind() + ", which cannot be split into rows";
    return {};
  }
};

}  // namespace

std::string BatchKey(const std::vector<c10::IValue>& args,
                     const std::unordered_map<std::string, c10::IValue>& kwargs, int64_t* rows,
                     const PaddingSpec* padding) {
  std::string key;
  int64_t n = -1;
  auto axis_of = [padding](int position, const std::string& name) -> int64_t {
    const PaddedInput* padded = padding != nullptr ? padding->Find(position, name) : nullptr;
    return padded != nullptr ? padded->axis : -1;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    if (!DescribeArgument(args[i], &n, &key, axis_of(static_cast<int>(i), ""))) return "";
  }
  if (!kwargs.empty()) {
    std::vector<const std::string*> names;
    for (const auto& [name, value] : kwargs) names.push_back(&name);
    std::sort(names.begin(), names.end(), [](auto* a, auto* b) { return *a < *b; });
    for (const std::string* name : names) {
      key += *name + '=';
      if (!DescribeArgument(kwargs.at(*name), &n, &key, axis_of(-1, *name))) return "";
    }
  }
  if (n < 0) return "";  // no tensor: nothing to concatenate
  *rows = n;
  return key;
}

void MergeInputs(const std::vector<RequestPtr>& members, std::vector<c10::IValue>* args,
                 std::unordered_map<std::string, c10::IValue>* kwargs) {
  const Request& first = *members.front();
  args->clear();
  for (size_t i = 0; i < first.args.size(); ++i) {
    args->push_back(first.args[i].isTensor() ? c10::IValue(Concat(members, &PositionalArg, &i))
                                             : first.args[i]);
  }
  kwargs->clear();
  for (const auto& [name, value] : first.kwargs) {
    (*kwargs)[name] = value.isTensor() ? c10::IValue(Concat(members, &NamedArg, &name)) : value;
  }
}

bool SplitOutput(const c10::IValue& output, const std::vector<int64_t>& rows,
                 std::vector<c10::IValue>* parts, std::string* why) {
  int64_t total = 0;
  for (int64_t n : rows) total += n;
  Splitter splitter{rows, total, "", false};
  *parts = splitter.Split(output, "");
  if (parts->empty()) {
    *why = splitter.why;
    return false;
  }
  return true;
}

bool OutputKeepsRows(const c10::IValue& output, const std::vector<int64_t>& rows, std::string* why) {
  int64_t total = 0;
  for (int64_t n : rows) total += n;
  Splitter splitter{rows, total, "", true};
  if (!splitter.Split(output, "").empty()) return true;
  if (why != nullptr) *why = splitter.why;
  return false;
}

}  // namespace torchpool
