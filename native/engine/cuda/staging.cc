#include "engine/cuda/staging.h"

#include <c10/cuda/CUDAException.h>

#include <cstring>

#include "engine/cuda/host_copy.h"
#include "engine/pinned_inputs.h"

namespace torchpool {

namespace {

// Every part is host memory from pool.allocInput, laid out as the device tensor wants it.
bool AllPageLocked(const std::vector<at::Tensor>& parts) {
  for (const at::Tensor& part : parts) {
    if (!part.is_cpu() || !part.is_contiguous() || !pinned_inputs::Contains(part.data_ptr(), part.nbytes())) return false;
  }
  return true;
}

}  // namespace

at::Tensor Staging::ToDevice(const std::vector<at::Tensor>& parts, cudaStream_t stream,
                             StagedBuffers* buffers, int64_t padded_rows) {
  const at::Tensor& first = parts.front();
  std::vector<int64_t> sizes = first.sizes().vec();
  if (parts.size() > 1) {
    int64_t rows = 0;
    for (const at::Tensor& part : parts) rows += part.size(0);
    sizes[0] = rows;
  }
  const bool pad = !sizes.empty() && padded_rows > sizes[0];
  std::vector<int64_t> device_sizes = sizes;
  if (pad) device_sizes[0] = padded_rows;
  at::Tensor device = at::empty(device_sizes, first.options().device(device_));
  // The real rows come first; the padding rows are zeroed on the same stream.
  size_t bytes = device.nbytes();
  if (pad) {
    const size_t real = bytes / static_cast<size_t>(padded_rows) * static_cast<size_t>(sizes[0]);
    C10_CUDA_CHECK(cudaMemsetAsync(static_cast<char*>(device.data_ptr()) + real, 0, bytes - real, stream));
    bytes = real;
  }
  if (bytes == 0) return device;
  if (AllPageLocked(parts)) {
    // The caller's memory stays untouched until its request settles, after this copy completed.
    char* cursor = static_cast<char*>(device.data_ptr());
    for (const at::Tensor& part : parts) {
      C10_CUDA_CHECK(cudaMemcpyAsync(cursor, part.data_ptr(), part.nbytes(), cudaMemcpyHostToDevice, stream));
      cursor += part.nbytes();
    }
    direct_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    return device;
  }
  PinnedBlock block = pool_->Acquire(bytes);
  if (block) {
    char* cursor = static_cast<char*>(block.data);
    for (const at::Tensor& part : parts) {
      at::Tensor host = part.is_cpu() ? part.contiguous() : part.to(at::kCPU).contiguous();
      CopyHostMemory(cursor, host.data_ptr(), host.nbytes());
      cursor += host.nbytes();
    }
    buffers->blocks.push_back(block);
    C10_CUDA_CHECK(cudaMemcpyAsync(device.data_ptr(), block.data, bytes, cudaMemcpyHostToDevice, stream));
    pinned_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  } else {
    // Pageable source: the call returns once the driver has taken the bytes, so `host` may go.
    at::Tensor host = parts.size() == 1 ? first.contiguous() : at::cat(parts, 0);
    if (!host.is_cpu()) host = host.to(at::kCPU);
    C10_CUDA_CHECK(cudaMemcpyAsync(device.data_ptr(), host.data_ptr(), bytes, cudaMemcpyHostToDevice, stream));
    pageable_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  }
  return device;
}

at::Tensor Staging::ToHost(const at::Tensor& tensor, cudaStream_t stream, StagedBuffers* buffers) {
  if (!tensor.is_cuda()) return tensor;
  at::Tensor source = tensor.contiguous();
  const size_t bytes = source.nbytes();
  const at::TensorOptions host_options = source.options().device(at::kCPU);
  if (bytes == 0) return at::empty(source.sizes(), host_options);
  PinnedBlock block = pool_->Acquire(bytes);
  if (block) {
    buffers->blocks.push_back(block);
    C10_CUDA_CHECK(cudaMemcpyAsync(block.data, source.data_ptr(), bytes, cudaMemcpyDeviceToHost, stream));
    buffers->outputs.insert(block.data);
    pinned_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    return at::from_blob(block.data, source.sizes(), host_options);
  }
  // Pageable destination: the call returns after the copy (and all work before it) completed.
  at::Tensor host = at::empty(source.sizes(), host_options);
  C10_CUDA_CHECK(cudaMemcpyAsync(host.data_ptr(), source.data_ptr(), bytes, cudaMemcpyDeviceToHost, stream));
  pageable_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  return host;
}

at::Tensor Staging::Detach(const at::Tensor& host, const StagedBuffers& buffers) {
  if (buffers.outputs.count(host.data_ptr()) == 0) return host;
  at::Tensor own = at::empty(host.sizes(), host.options());
  CopyHostMemory(own.data_ptr(), host.data_ptr(), host.nbytes());
  return own;
}

void Staging::Release(StagedBuffers* buffers) {
  for (PinnedBlock& block : buffers->blocks) pool_->Release(block);
  buffers->blocks.clear();
  buffers->outputs.clear();
}

}  // namespace torchpool
