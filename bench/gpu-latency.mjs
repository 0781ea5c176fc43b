#!/usr/bin/env node
// One request at a time on the GPU: what each latency knob buys against the raw libtorch C++
// loop on the same model and shape, measured back to back and repeated (median of the p50s).
// The tiny model shows the fixed cost per request; ResNet-50 fp16 at batch 8 a real one.
// Writes bench/data/gpu-latency.json.   node bench/gpu-latency.mjs [--quick]
import * as fs from 'node:fs';
import * as path from 'node:path';
import torchpool from '../dist/index.js';
import { gpuMachine, oursVsRaw, root } from './measure.mjs';

const { InferencePool, buildInfo, builtinModelPath, listDevices } = torchpool;
const quick = process.argv.includes('--quick');
const gpu = listDevices().find((d) => d.type === 'cuda');
if (!gpu) {
  console.log('gpu-latency bench: skipped (no CUDA device)');
  process.exit(0);
}
const device = gpu.id;
const repeats = quick ? 1 : 3;
const model = (name) => builtinModelPath(name, { cacheDir: path.join(root, '.cache', 'models') });

const cases = [
  { model: 'tiny', shape: [1, 16], iters: quick ? 500 : 3000, configs: [
    { name: 'defaults', options: {} },
    { name: 'spinMicros 200', options: { spinMicros: 200 } },
    { name: 'spinMicros 200 + allocInput', options: { spinMicros: 200 }, pinned: true },
    { name: 'spinMicros 200 + cudaGraphs', options: { spinMicros: 200, cudaGraphs: true } },
  ] },
  { model: 'resnet50', shape: [8, 3, 224, 224], iters: quick ? 50 : 150, half: true, configs: [
    { name: 'fp16', options: { precision: 'fp16' } },
    { name: 'fp16 + allocInput', options: { precision: 'fp16' }, pinned: true },
    { name: 'fp16 + cudaGraphs', options: { precision: 'fp16', cudaGraphs: true } },
    { name: 'fp16 + cudaGraphs + allocInput', options: { precision: 'fp16', cudaGraphs: true }, pinned: true },
  ] },
];

const rows = [];
for (const c of cases) {
  const file = await model(c.model);
  for (const config of c.configs) {
    const pool = await InferencePool.create({ model: file, devices: [device], warmup: [{ shape: c.shape }], ...config.options });
    const measured = await oursVsRaw(pool, { file, device, shape: c.shape, threads: 1, iters: c.iters, warmup: 50, repeats, half: c.half ?? false, pinnedInput: config.pinned ?? false });
    await pool.close();
    const row = { model: c.model, shape: c.shape, config: config.name, ...measured,
      overhead_us: measured.torchpool_p50_us - measured.raw_p50_us, raw_vs_torchpool: measured.raw_p50_us / measured.torchpool_p50_us };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
}
const out = path.join(root, 'bench', 'data', 'gpu-latency.json');
fs.writeFileSync(out, JSON.stringify({
  machine: gpuMachine(gpu, buildInfo().torchVersion),
  command: `node bench/gpu-latency.mjs${quick ? ' --quick' : ''}`,
  setup: `one request at a time, median p50 of ${repeats} runs, torchpool and the raw C++ loop alternating; the raw loop copies from pageable memory on the default stream`,
  rows,
}, null, 2) + '\n');
console.log(`wrote ${path.relative(root, out)}`);
