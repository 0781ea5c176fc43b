// Measurement helpers shared by the benchmark suites: torchpool runs in this process, the raw
// C++ baseline and Python peers run as child processes on the same model file.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openMpSettings } from '../dist/binding.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const rawForwardBinary = path.join(root, 'build', 'bench', 'torchpool-raw-forward');

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.round(p * (sorted.length - 1)))];
}

export function median(values) {
  return percentile(values, 0.5);
}

/** CPU time (ms) of this process's JS thread alone: the main thread's task in /proc, in 10 ms clock ticks. */
export function jsThreadCpuMs() {
  const fields = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * `concurrency` callers each keep one batch-1 request of `width` floats in flight until
 * `requests` are done (after a warmup of `warmup` rounds): rows/s, the mean merged batch and the
 * JS thread's CPU per request.
 */
export async function closedLoopWithJsCost(pool, { width, concurrency, requests, warmup }) {
  const x = { data: new Float32Array(width).map(() => Math.random()), shape: [1, width] };
  let next = 0;
  const worker = async (count) => { while (next++ < count) await pool.infer(x); };
  const loop = async (count) => { next = 0; await Promise.all(Array.from({ length: concurrency }, () => worker(count))); };
  await loop(concurrency * warmup);
  const before = pool.stats();
  const js = jsThreadCpuMs();
  const start = performance.now();
  await loop(requests);
  const seconds = (performance.now() - start) / 1000;
  const jsMs = jsThreadCpuMs() - js;
  const after = pool.stats();
  return { rows_per_s: requests / seconds, js_us_per_request: (jsMs * 1000) / requests,
    mean_batch: (after.requests - before.requests) / Math.max(1, after.batches - before.batches), after };
}

/** The machine's CPU ticks so far, all and stolen by the hypervisor (/proc/stat): two readings give the steal share between them. */
export function cpuTimes() {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 };
  } catch {
    return undefined;  // not Linux
  }
}

function randomInput(shape) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.random();
  return { data, shape };
}

function inputsFor(shape, intArg) {
  const x = randomInput(shape);
  return intArg === undefined ? x : [x, intArg];
}

/** One request at a time: latency of infer() as a caller sees it. */
export async function torchpoolLatency(pool, { shape, intArg, iters, warmup, inputs = inputsFor(shape, intArg) }) {
  for (let i = 0; i < warmup; i++) await pool.infer(inputs);
  const micros = [];
  for (let i = 0; i < iters; i++) {
    const start = performance.now();
    await pool.infer(inputs);
    micros.push((performance.now() - start) * 1000);
  }
  return { p50_us: percentile(micros, 0.5), p99_us: percentile(micros, 0.99), mean_us: micros.reduce((a, b) => a + b, 0) / iters, iters };
}

/** `concurrency` requests kept in flight: items per second through the pool. */
export async function torchpoolThroughput(pool, { shape, intArg, requests, concurrency, warmup = concurrency }) {
  const inputs = inputsFor(shape, intArg);
  const run = async (count) => {
    let next = 0;
    const worker = async () => { while (next++ < count) await pool.infer(inputs); };
    await Promise.all(Array.from({ length: concurrency }, worker));
  };
  await run(warmup);
  const start = performance.now();
  await run(requests);
  const seconds = (performance.now() - start) / 1000;
  return { requests_per_s: requests / seconds, items_per_s: (requests * shape[0]) / seconds, seconds };
}

/** The machine line of a standalone GPU bench's data file. */
export function gpuMachine(gpu, torchVersion) {
  return { date: new Date().toISOString().slice(0, 10), cpu: `${os.cpus()[0].model} (${os.availableParallelism()} cores)`, gpu: gpu.name, node: process.version, libtorch: torchVersion };
}

/**
 * The environment of the raw C++ loop: this process's, less the OpenMP wait settings torchpool
 * set for itself when it loaded (the raw loop runs as libtorch would on its own).
 */
export function rawEnvironment() {
  const env = { ...process.env };
  for (const name of openMpSettings().setByTorchpool) delete env[name];
  return env;
}

/**
 * The same forward in a C++ loop (bench/native/raw_forward.cc). By default with this process's
 * environment, so with the OpenMP settings torchpool chose; `env: rawEnvironment()` runs it as
 * libtorch runs on its own.
 */
export function rawForward({ model, device, shape, intArg, iters, warmup, threads, half = false, qengine, mask = false, env = process.env }) {
  const args = ['--model', model, '--device', device, '--shape', shape.join(','), '--iters', String(iters), '--warmup', String(warmup), '--half', half ? '1' : '0'];
  if (qengine) args.push('--qengine', qengine);
  if (mask) args.push('--mask', '1');
  if (threads) args.push('--threads', String(threads));
  if (intArg !== undefined) args.push('--int-arg', String(intArg));
  const child = spawnSync(rawForwardBinary, args, { encoding: 'utf8', env });
  if (child.status !== 0) throw new Error(`raw forward failed: ${child.stderr || child.error}`);
  return JSON.parse(child.stdout.trim().split('\n').pop());
}

/**
 * torchpool (`pool`, on `file`) and the raw C++ loop on the same file and shape, alternating,
 * `repeats` times: medians of the per-run p50/p99, and the pool's stage medians. `pinnedInput`
 * sends a `pool.allocInput` tensor (already in page-locked memory) instead of a plain array.
 */
export async function oursVsRaw(pool, { file, device, shape, intArg, threads, iters, warmup, repeats, half = false, pinnedInput = false }) {
  let inputs;
  if (pinnedInput) {
    const x = pool.allocInput(shape);
    for (let i = 0; i < x.data.length; i++) x.data[i] = Math.random();
    inputs = intArg === undefined ? x : [x, intArg];
  }
  const ours = [], raw = [];
  for (let r = 0; r < repeats; r++) {
    ours.push(await torchpoolLatency(pool, { shape, intArg, iters, warmup, ...(inputs ? { inputs } : {}) }));
    raw.push(rawForward({ model: file, device, shape, intArg, iters, warmup, threads, half }));
  }
  // Median per stage over the pool's last 2048 requests (the measured ones, warmup mostly aged out).
  const stages_p50_us = Object.fromEntries(Object.entries(pool.stats().latency.stages ?? {}).map(([k, l]) => [k, l.p50 * 1000]));
  return {
    stages_p50_us,
    torchpool_p50_us: median(ours.map((o) => o.p50_us)),
    torchpool_p99_us: median(ours.map((o) => o.p99_us)),
    raw_p50_us: median(raw.map((o) => o.p50_us)),
    raw_p99_us: median(raw.map((o) => o.p99_us)),
    // The raw loop's forward call alone (kernels queued), beside the pool's forwardMs stage.
    raw_forward_p50_us: median(raw.map((o) => o.forward_p50_us ?? NaN)),
  };
}

/** Event-loop stall while `work` runs: the worst gap of a 1 ms interval, in ms. */
export async function worstIntervalGap(work) {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  await work();
  clearInterval(timer);
  return worst;
}

/** Where bench-only peers live (installed by bench/index.mjs, never by the library). */
export const peersDir = path.join(root, 'bench', '.peers');

/**
 * The onnxruntime-node peer on the same TorchScript file exported to ONNX for `shape`. Returns
 * { p50_us, p99_us, concurrent_rows_per_s?, worst_gap_ms? } or { error }.
 */
export function onnxPeer({ file, shape, threads, iters, warmup = 10, concurrency = 0, stall = 0 }) {
  if (!fs.existsSync(path.join(peersDir, 'node_modules', 'onnxruntime-node'))) return { error: 'onnxruntime-node is not installed (npm run bench installs it)' };
  const onnx = path.join(peersDir, 'models', `${path.basename(file, '.pt')}-${shape.join('x')}.onnx`);
  if (!fs.existsSync(onnx)) {
    fs.mkdirSync(path.dirname(onnx), { recursive: true });
    const python = process.env.TORCHPOOL_BENCH_PYTHON || 'python3';
    const exported = spawnSync(python, [path.join(root, 'bench/peers/export_onnx.py'), '--model', file, '--shape', shape.join(','), '--out', onnx], { encoding: 'utf8' });
    if (exported.status !== 0) return { error: `ONNX export failed: ${(exported.stderr || String(exported.error)).trim().split('\n').pop()}` };
  }
  const args = [path.join(root, 'bench/peers/onnxruntime.mjs'), '--ort', peersDir, '--model', onnx, '--shape', shape.join(','),
    '--iters', String(iters), '--warmup', String(warmup), '--threads', String(threads), '--concurrency', String(concurrency), '--stall', String(stall)];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (child.status !== 0) return { error: (child.stderr || String(child.error)).trim().split('\n').pop() };
  return JSON.parse(child.stdout.trim().split('\n').pop());
}

/** PyTorch in Python on the same file (and torchvision eager with `eager`): bench/peers/torch_python.py. */
export function pythonPeer({ file, device, shape, iters, warmup, eager, threads, half = false }) {
  const python = process.env.TORCHPOOL_BENCH_PYTHON || 'python3';
  const args = [path.join(root, 'bench/peers/torch_python.py'), '--model', file, '--device', device, '--shape', shape.join(','), '--iters', String(iters), '--warmup', String(warmup)];
  if (eager) args.push('--eager', eager);
  if (threads) args.push('--threads', String(threads));
  if (half) args.push('--half');
  const child = spawnSync(python, args, { encoding: 'utf8' });
  if (child.status !== 0) return { error: (child.stderr || String(child.error)).trim().split('\n').pop() };
  return Object.fromEntries(child.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((o) => [o.variant, o]));
}
