#!/usr/bin/env bash
# Sets up this checkout on a fresh Debian/Ubuntu machine: system packages (when root), npm
# packages and the native build. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'torchpool setup: %s\n' "$*" >&2; }

has_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# A libtorch is already there if the user pointed at one or Python's torch ships a CMake config.
user_torch() {
  [[ -n "${TORCHPOOL_TORCH_DIR:-}" ]] && return 0
  python3 -c 'import os, sys, torch.utils as u; sys.exit(0 if os.path.exists(os.path.join(u.cmake_prefix_path, "Torch", "TorchConfig.cmake")) else 1)' 2>/dev/null
}

missing=()
if ! user_torch; then
  has_pkg libtorch-dev || missing+=(libtorch-dev)
  # Without it libtorch falls back to the reference BLAS (about 24x slower on an MLP).
  has_pkg libopenblas0-openmp || missing+=(libopenblas0-openmp)
fi
# PyTorch in Python (Debian's build of 1.13): it makes the quantized test fixtures, and it is the
# benchmarks' peer on the same models.
if ! python3 -c 'import torch' 2>/dev/null && ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  missing+=(python3-torch)
fi
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || command -v ninja >/dev/null || missing+=(make)

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "missing system packages: ${missing[*]}"
    log "install them as root, e.g.: sudo apt-get install -y ${missing[*]}"
    log "(or set TORCHPOOL_TORCH_DIR to a libtorch you already have), then run this again."
    exit 1
  fi
fi

# npm ci only when package-lock.json changed since the last one (it also builds the addon).
stamp=node_modules/.torchpool-setup-stamp
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$lock_hash" ]]; then
  log "npm ci"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > "$stamp"
fi

log "building (incremental)"
npm run --silent build
