#!/usr/bin/env node
// Graphs under dynamic batching on the GPU: ResNet-50 fp16 (channels-last), 16 and 64 callers
// each keeping one batch-1 request in flight. Eager batching is the baseline; against it,
// bucketed CUDA graphs with fillWhileBusy off (a partial batch launches after
// maxQueueDelayMicros even while the previous one runs) and on (the default), and with the
// callers' inputs in allocInput memory. Issue 14's target: graphs + batching >= 1.5x eager's
// requests/s with equal or lower p99, at 16 and 64 callers. Then the MLP on one and two engines
// of the GPU (64 callers), as in the GPU suite, with the engines as they are now.
// Writes bench/data/gpu-batching.json.   node bench/gpu-batching.mjs [--quick]
import * as fs from 'node:fs';
import * as path from 'node:path';
import torchpool from '../dist/index.js';
import { engineScaling } from './gpu.mjs';
import { gpuMachine, root } from './measure.mjs';

const { InferencePool, buildInfo, builtinModelPath, listDevices } = torchpool;
const { runConfig } = await import('../dist/bench/load.js');
const quick = process.argv.includes('--quick');
const gpu = listDevices().find((d) => d.type === 'cuda');
if (!gpu) {
  console.log('gpu-batching bench: skipped (no CUDA device)');
  process.exit(0);
}
const model = (name) => builtinModelPath(name, { cacheDir: path.join(root, '.cache', 'models') });
const file = await model('resnet50');
const shape = [1, 3, 224, 224];
const configs = [
  { name: 'eager batching', options: {} },
  { name: 'eager batching, fillWhileBusy off', options: { fillWhileBusy: false } },
  // Eager's p99 at 64 callers was 86 ms against a p50 of 7.7: is it cuDNN building plans for
  // batch sizes first seen under load? Warm every size from 1 to 32 at load and see.
  { name: 'eager batching, warmed at every batch size', options: { warmup: Array.from({ length: 32 }, (_, i) => ({ shape: [i + 1, 3, 224, 224] })) } },
  { name: 'cudaGraphs, fillWhileBusy off', options: { cudaGraphs: true, fillWhileBusy: false } },
  { name: 'cudaGraphs', options: { cudaGraphs: true } },
  { name: 'cudaGraphs + allocInput', options: { cudaGraphs: true }, pinned: true },
];

const rows = [];
for (const concurrency of [16, 64]) {
  for (const config of configs) {
    const pool = await InferencePool.create({
      model: file, devices: [gpu.id], precision: 'fp16', channelsLast: true, maxBatchSize: 32, maxQueueDelayMicros: 200,
      warmup: [{ shape }], ...config.options,
    });
    let input = { data: new Float32Array(3 * 224 * 224).fill(0.1), shape };
    if (config.pinned) {
      input = pool.allocInput(shape);
      input.data.fill(0.1);
    }
    const result = await runConfig(pool, { precision: 'fp16', batch: 1, concurrency, input },
      { warmup: { ms: 1000 }, measure: { ms: quick ? 2000 : 6000 } });
    const engine = pool.stats().engines[0];
    await pool.close();
    const row = {
      concurrency, config: config.name, requests_per_s: result.requestsPerSecond, p50_ms: result.latencyMs.p50, p99_ms: result.latencyMs.p99,
      mean_batch: result.meanBatchSize, held_batches: engine.heldBatches, padded_rows: engine.cuda?.graphs.paddedRows ?? 0,
      replays_by_bucket: engine.cuda?.graphs.replaysByBucket ?? {}, eager_fallbacks: engine.cuda?.graphs.eagerFallbacks ?? {},
    };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
}
const scaling = await engineScaling({ device: gpu.id, model, quick });
const out = path.join(root, 'bench', 'data', 'gpu-batching.json');
fs.writeFileSync(out, JSON.stringify({
  machine: gpuMachine(gpu, buildInfo().torchVersion),
  command: `node bench/gpu-batching.mjs${quick ? ' --quick' : ''}`,
  setup: `ResNet-50 fp16 channels-last, maxBatchSize 32, maxQueueDelayMicros 200, warmup [1, 3, 224, 224] (every graph bucket captured at load); each caller keeps one batch-1 request in flight; 1 s warmup, ${quick ? 2 : 6} s measured`,
  rows,
  engineScaling: scaling,
}, null, 2) + '\n');
console.log(`wrote ${path.relative(root, out)}`);
