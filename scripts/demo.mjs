#!/usr/bin/env node
// The main job: a few thousand images through a generated ResNet-18 on every device, with a
// progress bar and a per-engine table.   node scripts/demo.mjs [--items 3000] [--batch 16]
//                                        [--size 64] [--devices all|cpu|cuda|cuda:0,cuda:1]
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as os from 'node:os';
import torchpool from '../dist/index.js';

const { InferencePool, builtinModelPath, listDevices, buildInfo } = torchpool;
const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const batch = Number(option('batch', 16));
const items = Math.ceil(Number(option('items', 3000)) / batch) * batch; // whole batches
const size = Number(option('size', 64));
const deviceOption = option('devices', 'all');

const gpus = listDevices().filter((d) => d.type === 'cuda');
let devices = deviceOption.includes(',') || deviceOption.startsWith('cuda:') ? deviceOption.split(',') : deviceOption;
// On a machine without a GPU, 'all' means the CPU; split it into one engine per core so
// the shared queue has several engines to feed.
if (devices === 'all' && gpus.length === 0) devices = Array(Math.max(1, os.availableParallelism())).fill('cpu');

console.log(`torchpool demo: libtorch ${buildInfo().torchVersion}, ${gpus.length ? gpus.map((g) => g.name).join(', ') : 'no GPU'}`);
console.log(`generating ResNet-18 (1000 classes) ...`);
const model = await builtinModelPath('resnet18');
const pool = await InferencePool.create({ model, devices, threadsPerEngine: 1 });
console.log(`engines: ${pool.devices.join(', ')}; ${items} images of 3x${size}x${size} in batches of ${batch}\n`);

// Deterministic synthetic images (a gradient with a per-batch phase), made before the clock
// starts so that the event-loop figure measures torchpool, not this script's image generation.
const distinctBatches = Array.from({ length: 8 }, (_, i) => {
  const data = new Float32Array(batch * 3 * size * size);
  for (let k = 0; k < data.length; k++) data[k] = Math.sin(0.001 * k + i) * 0.5;
  return { data, shape: [batch, 3, size, size] };
});
const image = (i) => distinctBatches[i % distinctBatches.length];

const total = items / batch;
const tty = process.stdout.isTTY;
let done = 0;
let lastPrinted = -1;
const started = performance.now();
function progress() {
  const fraction = done / total;
  const elapsed = (performance.now() - started) / 1000;
  const rate = (done * batch) / Math.max(elapsed, 1e-9);
  if (tty) {
    const width = 30;
    const filled = Math.round(fraction * width);
    process.stdout.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${done * batch}/${items} images  ${rate.toFixed(0)} img/s `);
  } else {
    const decile = Math.floor(fraction * 10);
    if (decile !== lastPrinted) {
      lastPrinted = decile;
      console.log(`${(fraction * 100).toFixed(0).padStart(3)}%  ${done * batch}/${items} images  ${rate.toFixed(0)} img/s`);
    }
  }
}

const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
const classes = new Map();
let next = 0;
// Keep two requests per engine in flight: one running, one queued, so no engine waits.
async function feeder() {
  while (next < total) {
    const out = await pool.infer(image(next++));
    const logits = out.data;
    for (let b = 0; b < batch; b++) {
      let best = 0;
      for (let c = 1; c < 1000; c++) if (logits[b * 1000 + c] > logits[b * 1000 + best]) best = c;
      classes.set(best, (classes.get(best) ?? 0) + 1);
    }
    done++;
    progress();
  }
}
progress();
await Promise.all(Array.from({ length: pool.devices.length * 2 }, feeder));
const wall = (performance.now() - started) / 1000;
loopDelay.disable();
if (tty) process.stdout.write('\n');

const stats = pool.stats();
await pool.close();
const rows = stats.engines.map((e) => ({
  engine: String(e.index),
  device: e.device,
  requests: String(e.requests),
  images: String(e.requests * batch),
  busy: `${(e.busyMs / 1000).toFixed(2)} s`,
  util: `${(e.utilization * 100).toFixed(0)}%`,
  'img/s': ((e.requests * batch) / (e.busyMs / 1000)).toFixed(1),
}));
const headers = Object.keys(rows[0]);
const widths = headers.map((h) => Math.max(h.length, ...rows.map((r) => r[h].length)));
const line = (cells) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
console.log('\n' + line(headers));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(headers.map((h) => r[h])));
console.log(`\n${items} images in ${wall.toFixed(2)} s: ${(items / wall).toFixed(1)} img/s overall`);
console.log(`event loop while running: p99 delay ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms, max ${(loopDelay.max / 1e6).toFixed(1)} ms`);
const top = [...classes.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
console.log(`most frequent top-1 classes: ${top.map(([c, n]) => `#${c} (${n})`).join(', ')}`);
