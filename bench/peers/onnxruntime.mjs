#!/usr/bin/env node
// The onnxruntime-node peer: the same model exported to ONNX (bench/peers/export_onnx.py), run in
// a child process so its thread pools do not share a process with libtorch's.
//   node onnxruntime.mjs --ort <dir with node_modules/onnxruntime-node> --model m.onnx --shape 1,256
//        [--iters 200] [--warmup 20] [--threads 2] [--concurrency 64] [--stall 6]
// Prints one JSON line: single-request latency, the throughput of `concurrency` batch-1 requests
// in flight, and the worst gap of a 1 ms timer while `stall` requests run.
import { createRequire } from 'node:module';
import * as path from 'node:path';

const argv = process.argv.slice(2);
const flag = (name, fallback) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : fallback; };
const ort = createRequire(path.join(path.resolve(flag('ort')), 'index.js'))('onnxruntime-node');
const shape = flag('shape').split(',').map(Number);
const iters = Number(flag('iters', '200'));
const warmup = Number(flag('warmup', '20'));
const threads = Number(flag('threads', '1'));
const concurrency = Number(flag('concurrency', '0'));
const stall = Number(flag('stall', '0'));

const session = await ort.InferenceSession.create(flag('model'), { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' });
const feed = (dims) => {
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).map(() => Math.random());
  return { x: new ort.Tensor('float32', data, dims) };
};
const percentile = (values, p) => [...values].sort((a, b) => a - b)[Math.round(p * (values.length - 1))];

const input = feed(shape);
for (let i = 0; i < warmup; i++) await session.run(input);
const micros = [];
for (let i = 0; i < iters; i++) {
  const t = performance.now();
  await session.run(input);
  micros.push((performance.now() - t) * 1000);
}
const result = { version: ort.env.versions?.node ?? 'unknown', p50_us: percentile(micros, 0.5), p99_us: percentile(micros, 0.99) };

if (concurrency > 0) {
  const one = feed([1, ...shape.slice(1)]);
  const rounds = Math.max(4, Math.round(iters / 4));
  const start = performance.now();
  for (let r = 0; r < rounds; r++) await Promise.all(Array.from({ length: concurrency }, () => session.run(one)));
  result.concurrent_rows_per_s = (rounds * concurrency) / ((performance.now() - start) / 1000);
}
if (stall > 0) {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => { const now = performance.now(); worst = Math.max(worst, now - last); last = now; }, 1);
  await new Promise((r) => setTimeout(r, 5));
  last = performance.now();
  await Promise.all(Array.from({ length: stall }, () => session.run(input)));
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(timer);
  result.worst_gap_ms = worst;
}
console.log(JSON.stringify(result));
