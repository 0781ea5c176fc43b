#include "binding/settled_records.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "binding/dtypes.h"
#include "binding/errors.h"
#include "binding/js_values.h"

namespace torchpool {
namespace {

// Larger tensors keep the per-request path (lent external buffers: no copy at all). The slab
// as a whole stays small too: it is garbage as soon as the JS side has copied out of it.
constexpr size_t kMaxSlabTensorBytes = 64 * 1024;
constexpr size_t kMaxSlabBytes = 1024 * 1024;
constexpr int kTensorRecord = 0;
constexpr int kValueRecord = 1;
constexpr int kErrorRecord = 2;
constexpr int kListRecord = 3;
constexpr int kDictRecord = 4;

size_t Align8(size_t bytes) { return (bytes + 7) & ~static_cast<size_t>(7); }

// The dtype's index in kDtypes, or -1 when the tensor cannot travel in the slab.
int SlabDtype(const at::Tensor& tensor) {
  if (!tensor.defined() || !tensor.device().is_cpu() || tensor.numel() == 0 || !tensor.is_contiguous() ||
      tensor.nbytes() > kMaxSlabTensorBytes) {
    return -1;
  }
  const DtypeInfo* dtype = FindDtype(tensor.scalar_type());
  return dtype == nullptr ? -1 : static_cast<int>(dtype - kDtypes);
}

// A result made only of small tensors: one, a tuple or list of them, or a dict of them by string
// key. Anything else (scalars, nesting, caller-owned outputs, errors) is a JS value instead.
struct SlabResult {
  int kind = -1;
  std::vector<const at::Tensor*> tensors;  // in the request's output, alive while packing
  std::vector<int> dtypes;                 // SlabDtype of each
  std::vector<std::string> keys;  // kDictRecord
  size_t bytes = 0;
  size_t words = 0;
};

bool AddTensor(const c10::IValue& value, SlabResult* result) {
  if (!value.isTensor()) return false;
  const at::Tensor& tensor = value.toTensor();
  const int dtype = SlabDtype(tensor);
  if (dtype < 0) return false;
  result->bytes += Align8(tensor.nbytes());
  result->words += 4 + static_cast<size_t>(tensor.dim());
  result->tensors.push_back(&tensor);
  result->dtypes.push_back(dtype);
  return true;
}

bool SlabResultOf(const Request& request, SlabResult* result) {
  if (!request.status.ok() || !request.output_targets.empty()) return false;
  const c10::IValue& output = request.output;
  if (output.isTensor()) {
    result->kind = kTensorRecord;
    result->words = 2;
    return AddTensor(output, result);
  }
  if (output.isTuple() || output.isList()) {
    result->kind = kListRecord;
    result->words = 3;
    if (output.isTuple()) {
      for (const c10::IValue& item : output.toTupleRef().elements()) {
        if (!AddTensor(item, result)) return false;
      }
    } else {
      for (const c10::IValue& item : output.toListRef()) {
        if (!AddTensor(item, result)) return false;
      }
    }
    return true;
  }
  if (output.isGenericDict()) {
    result->kind = kDictRecord;
    result->words = 4;
    for (const auto& entry : output.toGenericDict()) {
      if (!entry.key().isString() || !AddTensor(entry.value(), result)) return false;
      result->keys.push_back(entry.key().toStringRef());
    }
    return true;
  }
  return false;
}

}  // namespace

SettledBatch PackSettled(Napi::Env env, const std::vector<RequestPtr>& requests) {
  // First pass: which results go in the slab, and how big it is.
  std::vector<SlabResult> results(requests.size());
  size_t words = 2;
  size_t payload = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    SlabResult& result = results[i];
    if (SlabResultOf(*requests[i], &result) && payload + result.bytes <= kMaxSlabBytes) {
      payload += result.bytes;
      words += result.words;
    } else {
      result.kind = -1;
      words += 3;
    }
  }
  const size_t header_bytes = Align8(words * sizeof(int32_t));
  Napi::ArrayBuffer slab = Napi::ArrayBuffer::New(env, header_bytes + payload);
  auto* base = static_cast<uint8_t*>(slab.Data());
  auto* header = reinterpret_cast<int32_t*>(base);
  header[0] = static_cast<int32_t>(requests.size());
  header[1] = static_cast<int32_t>(words);
  size_t word = 2;
  size_t offset = header_bytes;
  Napi::Array values = Napi::Array::New(env);
  uint32_t value_count = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const Request& request = *requests[i];
    const SlabResult& result = results[i];
    header[word++] = static_cast<int32_t>(request.ticket);
    if (result.kind >= 0) {
      header[word++] = result.kind;
      if (result.kind != kTensorRecord) header[word++] = static_cast<int32_t>(result.tensors.size());
      if (result.kind == kDictRecord) {
        Napi::Array keys = Napi::Array::New(env, result.keys.size());
        for (size_t k = 0; k < result.keys.size(); ++k) keys.Set(static_cast<uint32_t>(k), result.keys[k]);
        header[word++] = static_cast<int32_t>(value_count);
        values.Set(value_count++, keys);
      }
      // Per tensor: dtype index, byte offset, elements, ndim, dims...
      for (size_t t = 0; t < result.tensors.size(); ++t) {
        const at::Tensor& tensor = *result.tensors[t];
        header[word++] = result.dtypes[t];
        header[word++] = static_cast<int32_t>(offset);
        header[word++] = static_cast<int32_t>(tensor.numel());
        header[word++] = static_cast<int32_t>(tensor.dim());
        for (int64_t d = 0; d < tensor.dim(); ++d) header[word++] = static_cast<int32_t>(tensor.size(d));
        std::memcpy(base + offset, tensor.data_ptr(), tensor.nbytes());
        offset += Align8(tensor.nbytes());
      }
      continue;
    }
    Status status = request.status;
    Napi::Value value;
    if (status.ok()) {
      try {
        status = request.output_targets.empty()
                     ? IValueToJs(env, request.output, &value)
                     : OutputToJs(env, request.output, request.output_targets, request.js_output_refs, &value);
      } catch (const Napi::Error& error) {
        status = Status(ErrorCode::kInternal, error.Message());
      }
    }
    header[word++] = status.ok() ? kValueRecord : kErrorRecord;
    header[word++] = static_cast<int32_t>(value_count);
    values.Set(value_count++, status.ok() ? value : MakeError(env, status));
  }
  return SettledBatch{slab, values};
}

}  // namespace torchpool
