#!/usr/bin/env bash
# The whole GPU verification, in phases sized for the device tool's 10-minute calls (a machine that
# goes cold between calls starts bare, so every call begins with `build`, incremental when warm):
#   bash .device/remote.sh bash scripts/gpu-verify.sh build tests aoti-tests
#   bash .device/remote.sh bash scripts/gpu-verify.sh build bench mixed
#   bash .device/remote.sh bash scripts/gpu-verify.sh build latency aoti-bench serve threads
# Issues 20 and 21 in one call (about 9 minutes on an H200):
#   bash .device/remote.sh bash scripts/gpu-verify.sh build tests aoti-tests cold-start aoti-bench
# then, with device time left: `batching latency serve threads`.
# What the sessions without a GPU left (2026-12-04): first, about 9 minutes,
#   bash .device/remote.sh bash scripts/gpu-verify.sh build tests aoti-tests aoti-bench
# then, with device time left: `build padding cpu-target` (about 6 minutes).
# Each phase logs to <out>/work/<phase>.log under its own time limit, inside GPU_VERIFY_SECONDS
# (default 550) for the whole call; at the end <out>/results.tgz holds the logs and bench/data.
# <out> is $OUT on the device machine, else ./gpu-out.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-$PWD/gpu-out}
work=$out/work
mkdir -p "$work" bench/data .cache
deadline=$(( $(date +%s) + ${GPU_VERIFY_SECONDS:-550} ))
export CMAKE_CUDA_ARCHITECTURES=${CMAKE_CUDA_ARCHITECTURES:-90}
export TORCHINDUCTOR_COMPILE_THREADS=${TORCHINDUCTOR_COMPILE_THREADS:-16}
export PYTHONUNBUFFERED=1
packages_pid=

# phase NAME CAP COMMAND...: runs COMMAND under min(CAP, time left), logs it, prints the log's end on failure.
phase() {
  local name=$1 cap=$2; shift 2
  local left=$(( deadline - $(date +%s) - 15 ))
  (( left < cap )) && cap=$left
  if (( cap < 20 )); then echo "== $name: skipped, ${left}s left"; return; fi
  local start=$(date +%s)
  echo "== $name: started $(date +%T), limit ${cap}s"
  timeout --kill-after=5 "$cap" "$@" >"$work/$name.log" 2>&1
  local rc=$?
  echo "== $name: rc=$rc after $(( $(date +%s) - start ))s"
  if (( rc != 0 )); then tail -n 60 "$work/$name.log"; fi
  return 0
}

# AOTInductor packages take minutes to compile: started in the background beside the build.
start_packages() {
  [[ -n $packages_pid ]] && return
  python3 test/fixtures/aoti/make_packages.py "${TORCHPOOL_CACHE_DIR:-$HOME/.cache/torchpool}/aoti" >"$work/packages.log" 2>&1 &
  packages_pid=$!
}
wait_packages() {
  [[ -z $packages_pid ]] && return
  local left=$(( deadline - $(date +%s) - 60 ))
  local waited=0
  while kill -0 "$packages_pid" 2>/dev/null && (( waited < left )); do sleep 2; waited=$(( waited + 2 )); done
  wait "$packages_pid" 2>/dev/null; echo "== packages: rc=$? (waited ${waited}s)"; tail -n 5 "$work/packages.log"
  packages_pid=
}

nvidia-smi >"$work/nvidia-smi.log" 2>&1
for step in "$@"; do
  case $step in
    build)
      [[ " $* " == *" aoti-"* ]] && start_packages
      phase build 300 npm run build
      cmake --build build --target torchpool-raw-forward >"$work/raw-forward.log" 2>&1
      node -e "const t=require('./dist/index.js');console.log(JSON.stringify({build:t.buildInfo(),devices:t.listDevices()}))" 2>&1 | tee "$work/build-info.json" ;;
    tests) phase tests 400 npx vitest run test/gpu --exclude test/gpu/aoti.test.ts --reporter=verbose ;;
    aoti-tests) wait_packages; phase aoti-tests 300 npx vitest run test/gpu/aoti.test.ts --reporter=verbose ;;
    suite) phase suite 500 npx vitest run --reporter=dot ;;
    bench) phase bench 420 node bench/run.mjs --suite gpu ;;
    cli) phase cli 150 node dist/cli.js bench --model mlp --devices cuda --precision fp32,fp16 --batch 1,8,32 --concurrency 1,16,64 \
      --duration 2s --warmup 500ms -q --out bench/data/cli-gpu ;;
    mixed) phase mixed 120 node dist/cli.js bench --model mlp --devices cuda:0,cpu --batch 1,8 --concurrency 16,64 \
      --duration 2s --warmup 500ms --no-scaling -q --out bench/data/cli-mixed ;;
    latency) phase latency 150 node bench/gpu-latency.mjs ;;
    batching) phase batching 260 node bench/gpu-batching.mjs ;;
    aoti-bench) wait_packages; phase aoti-bench 330 node bench/aoti.mjs ${GPU_VERIFY_QUICK:+--quick} ;;
    cold-start) phase cold-start 240 node bench/cold-start.mjs --suite gpu ${GPU_VERIFY_QUICK:+--quick} ;;
    serve) phase serve 200 node bench/serve.mjs ;;
    threads) phase threads 120 node bench/threads.mjs ;;
    padding) phase padding 200 node bench/padding.mjs ;;
    # Issue 20's CPU target where the JS thread has cores of its own (CPU engines, this machine's cores).
    cpu-target)
      phase openmp 200 node bench/openmp-wait.mjs --quick --out bench/data/openmp-wait-gpu-machine.json
      phase turnaround 150 node bench/js-turnaround.mjs --quick --label 'GPU machine, CPU engines' --out bench/data/js-turnaround-gpu-machine.json ;;
    *) echo "gpu-verify: unknown phase '$step'"; exit 2 ;;
  esac
done
[[ -n $packages_pid ]] && kill "$packages_pid" 2>/dev/null
cp -r bench/data "$work/data" 2>/dev/null
tar -czf "$out/results.tgz" -C "$out" work && rm -rf "$work"
echo "== done: $out/results.tgz"
