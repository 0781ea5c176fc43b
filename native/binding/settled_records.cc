#include "binding/settled_records.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>

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

size_t Align8(size_t bytes) { return (bytes + 7) & ~static_cast<size_t>(7); }

// The dtype's index in kDtypes, or -1 when the tensor cannot travel in the slab.
int SlabDtype(const Request& request) {
  if (!request.status.ok() || !request.output_targets.empty() || !request.output.isTensor()) return -1;
  const at::Tensor& tensor = request.output.toTensor();
  if (!tensor.defined() || !tensor.device().is_cpu() || tensor.numel() == 0 || !tensor.is_contiguous() ||
      tensor.nbytes() > kMaxSlabTensorBytes) {
    return -1;
  }
  for (size_t i = 0; i < sizeof(kDtypes) / sizeof(kDtypes[0]); ++i) {
    if (kDtypes[i].scalar_type == tensor.scalar_type()) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

SettledBatch PackSettled(Napi::Env env, const std::vector<RequestPtr>& requests) {
  // First pass: which requests go in the slab, and how big it is.
  std::vector<int> dtypes(requests.size(), -1);
  size_t words = 2;
  size_t payload = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const int dtype = SlabDtype(*requests[i]);
    const size_t bytes = dtype < 0 ? 0 : Align8(requests[i]->output.toTensor().nbytes());
    if (dtype >= 0 && payload + bytes <= kMaxSlabBytes) {
      dtypes[i] = dtype;
      payload += bytes;
      words += 6 + static_cast<size_t>(requests[i]->output.toTensor().dim());
    } else {
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
    header[word++] = static_cast<int32_t>(request.ticket);
    if (dtypes[i] >= 0) {
      const at::Tensor& tensor = request.output.toTensor();
      header[word++] = kTensorRecord;
      header[word++] = dtypes[i];
      header[word++] = static_cast<int32_t>(offset);
      header[word++] = static_cast<int32_t>(tensor.numel());
      header[word++] = static_cast<int32_t>(tensor.dim());
      for (int64_t d = 0; d < tensor.dim(); ++d) header[word++] = static_cast<int32_t>(tensor.size(d));
      std::memcpy(base + offset, tensor.data_ptr(), tensor.nbytes());
      offset += Align8(tensor.nbytes());
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
