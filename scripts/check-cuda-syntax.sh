#!/usr/bin/env bash
# Compiles the CUDA engine's translation units (syntax and types, no code generation) on a
# machine without a GPU, so the CUDA path cannot rot unseen between GPU sessions. Uses the CUDA
# headers (CUDA_HOME, default /usr/local/cuda) and libtorch's c10/ATen CUDA headers (Debian's
# libtorch-dev, or TORCHPOOL_TORCH_INCLUDE). The one generated header a CPU-only libtorch lacks
# (c10/cuda/impl/cuda_cmake_macros.h) is supplied here.
#   bash scripts/check-cuda-syntax.sh        exits 0 when every unit compiles, or skips with a reason
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cuda=${CUDA_HOME:-/usr/local/cuda}
torch_include=${TORCHPOOL_TORCH_INCLUDE:-/usr/include}
cxx=${CXX:-c++}
if [[ ! -f $cuda/include/cuda_runtime.h ]]; then
  echo "check-cuda-syntax: skipped: no CUDA headers at $cuda/include (set CUDA_HOME)"; exit 0
fi
if [[ ! -f $torch_include/c10/cuda/CUDAStream.h ]]; then
  echo "check-cuda-syntax: skipped: no libtorch CUDA headers under $torch_include"; exit 0
fi
generated=$(mktemp -d)
trap 'rm -rf "$generated"' EXIT
mkdir -p "$generated/c10/cuda/impl"
cat > "$generated/c10/cuda/impl/cuda_cmake_macros.h" <<'H'
#pragma once
// Supplied by scripts/check-cuda-syntax.sh: a CUDA build of libtorch generates this file.
#define C10_CUDA_BUILD_SHARED_LIBS
H
# The same API probes the real build runs (scripts/cmake/probe_torch_apis.cmake), through a
# throwaway CMake project against these headers.
probe=$generated/probe
mkdir -p "$probe"
cat > "$probe/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.18)
project(torchpool_probe LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(Torch REQUIRED PATHS "$torch_include/../lib/x86_64-linux-gnu/cmake" "$torch_include/../share/cmake")
find_package(CUDAToolkit REQUIRED)
set(TORCHPOOL_PROBE_EXTRA_INCLUDES "$generated")
include("$root/scripts/cmake/probe_torch_apis.cmake")
add_library(probe STATIC probe.cc)
torchpool_probe_cuda_apis(probe)
CMAKE
echo 'int probe;' > "$probe/probe.cc"
api_defines=()
if cmake -S "$probe" -B "$probe/build" -DCUDAToolkit_ROOT="$cuda" > "$probe/log" 2>&1; then
  api=$(sed -n 's/.*graph-capture cleanup through \(TORCHPOOL_[A-Z_]*\).*/\1/p' "$probe/log")
  [[ -n $api ]] && api_defines=("-D$api=1")
else
  echo "check-cuda-syntax: API probe failed (continuing without it):"; tail -5 "$probe/log"
fi
napi=$(node -p "require('path').dirname(require.resolve('node-addon-api/package.json'))" 2>/dev/null || true)
node_api=$(node -p "require('node-api-headers').include_dir" 2>/dev/null || true)
# The AOTInductor runner needs libtorch 2.6+, whose loader header Debian's 1.13 lacks: a stub with
# the declarations the runner uses (as libtorch 2.6-2.11 declare them) lets it compile here too.
mkdir -p "$generated/torch/csrc/inductor/aoti_package" "$generated/torch/csrc/inductor/aoti_runner"
cat > "$generated/torch/csrc/inductor/aoti_runner/model_container_runner.h" <<'H'
#pragma once
// Supplied by scripts/check-cuda-syntax.sh: the part of libtorch 2.6+'s container runner used.
#include <ATen/Tensor.h>
#include <string>
#include <unordered_map>
namespace torch::inductor {
class AOTIModelContainerRunner {
 public:
  const std::unordered_map<std::string, at::Tensor> extract_constants_map(bool use_inactive) const;
  void swap_constant_buffer();
  void free_inactive_constant_buffer();
};
}  // namespace torch::inductor
H
cat > "$generated/torch/csrc/inductor/aoti_package/model_package_loader.h" <<'H'
#pragma once
// Supplied by scripts/check-cuda-syntax.sh: the part of libtorch 2.6+'s loader the runner uses.
#include <ATen/Tensor.h>
#include <string>
#include <unordered_map>
#include <vector>
namespace torch::inductor {
class AOTIModelContainerRunner;
class AOTIModelPackageLoader {
 public:
  AOTIModelPackageLoader(const std::string& model_package_path, const std::string& model_name = "model",
                         const bool run_single_threaded = false, const size_t num_runners = 1,
                         const c10::DeviceIndex device_index = -1);
  AOTIModelContainerRunner* get_runner();
  std::unordered_map<std::string, std::string> get_metadata();
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs, void* stream_handle = nullptr);
  std::vector<std::string> get_call_spec();
  void load_constants(std::unordered_map<std::string, at::Tensor>& constants_map, bool use_inactive,
                      bool check_full_update, bool user_managed = false);
};
}  // namespace torch::inductor
H
units=("$root"/native/engine/cuda/*.cc "$root/native/engine/engine_factory.cc" "$root/native/engine/pinned_inputs.cc"
  "$root/native/engine/runner/aoti_runner.cc" "$root/native/engine/runner/aoti_package.cc")
failed=0
for unit in "${units[@]}"; do
  if ! "$cxx" -std=c++17 -fsyntax-only -Wall -Wextra -Wno-unused-parameter \
      -DTORCHPOOL_WITH_CUDA=1 -DTORCHPOOL_WITH_AOTI=1 -DTORCHPOOL_AOTI_LOADER_DEVICE=1 \
      -DTORCHPOOL_AOTI_CONSTANTS=1 -DTORCHPOOL_AOTI_SHARE_CONSTANTS=1 -DNAPI_VERSION=8 "${api_defines[@]}" \
      -I"$root/native" -I"$generated" -I"$cuda/include" \
      -I"$torch_include" -I"$torch_include/torch/csrc/api/include" \
      ${napi:+-I"$napi"} ${node_api:+-I"$node_api"} "$unit"; then
    echo "check-cuda-syntax: FAILED: ${unit#$root/}"; failed=1
  fi
done
[[ $failed == 0 ]] && echo "check-cuda-syntax: ${#units[@]} CUDA translation units (${api_defines[*]:-no capture API}) compile against $(basename "$cuda") headers and libtorch $(awk '/define TORCH_VERSION_(MAJOR|MINOR)/ {printf "%s%s", sep, $3; sep="."}' "$torch_include/torch/csrc/api/include/torch/version.h" 2>/dev/null)"
exit $failed
