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
napi=$(node -p "require('path').dirname(require.resolve('node-addon-api/package.json'))" 2>/dev/null || true)
node_api=$(node -p "require('node-api-headers').include_dir" 2>/dev/null || true)
units=("$root"/native/engine/cuda/*.cc "$root/native/engine/engine_factory.cc")
failed=0
for unit in "${units[@]}"; do
  if ! "$cxx" -std=c++17 -fsyntax-only -Wall -Wextra -Wno-unused-parameter \
      -DTORCHPOOL_WITH_CUDA=1 -DNAPI_VERSION=8 \
      -I"$root/native" -I"$generated" -I"$cuda/include" \
      -I"$torch_include" -I"$torch_include/torch/csrc/api/include" \
      ${napi:+-I"$napi"} ${node_api:+-I"$node_api"} "$unit"; then
    echo "check-cuda-syntax: FAILED: ${unit#$root/}"; failed=1
  fi
done
[[ $failed == 0 ]] && echo "check-cuda-syntax: ${#units[@]} CUDA translation units compile against $(basename "$cuda") headers and libtorch $(awk '/define TORCH_VERSION_(MAJOR|MINOR)/ {printf "%s%s", sep, $3; sep="."}' "$torch_include/torch/csrc/api/include/torch/version.h" 2>/dev/null)"
exit $failed
