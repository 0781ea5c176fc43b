#!/usr/bin/env node
// Batching requests of different lengths (issue 23): 64 callers send sequences of random length
// 8..128 to a small transformer encoder (test/fixtures/text/make_encoder.py: 2 layers, d_model 32,
// a key-padding mask), each keeping one request in flight. Padding to the longest in the batch,
// padding to length buckets, and no batching; requests/s, p99, mean batch and the share of run
// positions that were padding. Beside each: the raw C++ loop at the batch and padded length the
// pool formed (the machine's limit for that work), and PyTorch in Python on the same lengths (one
// at a time, and padded 32 at a time to the longest), all on the same CPU threads. Median of repeats, torchpool and raw
// alternating. Writes bench/data/padding-<cpu|gpu>.json.
//   node bench/padding.mjs [--quick]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import torchpool from '../dist/index.js';
import { median, percentile, rawEnvironment, rawForward, root } from './measure.mjs';

const { InferencePool, buildInfo, listDevices } = torchpool;
const quick = process.argv.includes('--quick');
const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
if (!python) {
  console.log('padding bench: skipped (no Python with torch to make the encoder)');
  process.exit(0);
}
const made = spawnSync(python, [path.join(root, 'test', 'fixtures', 'text', 'make_encoder.py'), path.join(root, '.cache', 'text')], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(made.stderr);
const model = path.join(/^dir=(.+)$/m.exec(made.stdout)[1], 'encoder.pt');
const gpu = listDevices().find((d) => d.type === 'cuda');
const device = gpu ? gpu.id : 'cpu';
const callers = 64;
const requests = quick ? 2000 : 8000;
const repeats = quick ? 1 : 3;
const cpuThreads = os.availableParallelism();
const padding = { x: { axis: 1 }, mask: { axis: 1, value: 1 } };
const variants = [
  { name: 'padding to the longest in the batch', options: { padding } },
  { name: 'padding to buckets 16, 32, 64, 128', options: { padding, paddingBuckets: [16, 32, 64, 128] } },
  { name: 'no batching', options: { batching: false } },
];

// Seeded lengths and inputs, the same for every variant.
let seed = 7;
const random = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
const inputsOf = Array.from({ length: 121 }, (_, i) => {
  const length = 8 + i;
  return { x: { data: new Float32Array(length * 32).map(() => random() - 0.5), shape: [1, length, 32] }, mask: { data: new Uint8Array(length), shape: [1, length], dtype: 'bool' } };
});
const lengths = Array.from({ length: requests }, () => Math.floor(random() * 121));

async function run(options) {
  const pool = await InferencePool.create({ model, devices: [device], maxBatchSize: 32, ...options });
  let next = 0;
  const latencies = [];
  const caller = async (count) => {
    while (next < count) {
      const input = inputsOf[lengths[next++ % lengths.length]];
      const t = performance.now();
      await pool.infer(input);
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: callers }, () => caller(500)));
  next = 0;
  latencies.length = 0;
  const before = pool.stats();
  const start = performance.now();
  await Promise.all(Array.from({ length: callers }, () => caller(requests)));
  const seconds = (performance.now() - start) / 1000;
  const after = pool.stats();
  const sum = (s, key) => s.engines.reduce((n, e) => n + e.lengthPadding[key], 0);
  const positions = sum(after, 'positions') - sum(before, 'positions');
  const paddedPositions = sum(after, 'paddedPositions') - sum(before, 'paddedPositions');
  await pool.close();
  const measured = after.requests - before.requests;
  const meanBatch = measured / Math.max(1, after.batches - before.batches);
  // The same work in the raw C++ loop: batches of the mean size, at the mean padded length.
  const meanLength = paddedPositions > 0 ? paddedPositions / measured : lengths.reduce((a, l) => a + 8 + l, 0) / lengths.length;
  const rawBatch = Math.max(1, Math.round(meanBatch));
  const rawOptions = { model, device, shape: [rawBatch, Math.round(meanLength), 32], mask: true, iters: quick ? 30 : 60, warmup: 5, threads: cpuThreads };
  // With torchpool's OpenMP settings (the machine's limit), and with libgomp's own defaults.
  // Each is the median of 3 processes: on the 2-core VMs one process of this model runs at about
  // 12 ms per batch of 31 x 126 and the next at about 23 ms, whatever the settings.
  const rawMedian = (options) => ({ p50_us: median([0, 1, 2].map(() => rawForward(options).p50_us)) });
  const raw = rawMedian(rawOptions);
  const rawLibgompDefaults = device === 'cpu' ? rawMedian({ ...rawOptions, env: rawEnvironment() }) : raw;
  return {
    requests_per_s: requests / seconds, p99_ms: percentile(latencies, 0.99), p50_ms: percentile(latencies, 0.5),
    mean_batch: meanBatch,
    padding_fraction: paddedPositions > 0 ? 1 - positions / paddedPositions : 0,
    raw_batch: rawBatch, raw_length: Math.round(meanLength), raw_requests_per_s: rawBatch / (raw.p50_us / 1e6),
    raw_libgomp_defaults_requests_per_s: rawBatch / (rawLibgompDefaults.p50_us / 1e6),
  };
}

// PyTorch in Python on the same lengths, in-process (bench/peers/padding_python.py).
function pythonPeer() {
  const file = path.join(os.tmpdir(), `torchpool-padding-lengths-${process.pid}.json`);
  fs.writeFileSync(file, JSON.stringify(lengths.map((l) => 8 + l)));
  const child = spawnSync(python, [path.join(root, 'bench', 'peers', 'padding_python.py'), '--model', model, '--lengths', file, '--device', device, '--threads', String(cpuThreads)], { encoding: 'utf8', env: rawEnvironment() });
  fs.rmSync(file, { force: true });
  if (child.status !== 0) return { error: (child.stderr || String(child.error)).trim().split('\n').pop() };
  return Object.fromEntries(child.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((o) => [o.variant, o]));
}

const rows = [];
const runs = Object.fromEntries(variants.map((v) => [v.name, []]));
const peers = [];
for (let r = 0; r < repeats; r++) {
  for (const v of variants) runs[v.name].push(await run(v.options));
  peers.push(pythonPeer());
}
const peerMedian = (variant) => {
  const values = peers.map((p) => p[variant]?.requests_per_s).filter((v) => v !== undefined);
  return values.length ? median(values) : null;
};
const python_requests_per_s = { 'one at a time': peerMedian('one-at-a-time'), 'padded 32 at a time to the longest': peerMedian('pad-to-longest') };
for (const v of variants) {
  const list = runs[v.name];
  const row = { variant: v.name, device, callers, ...Object.fromEntries(Object.keys(list[0]).map((k) => [k, median(list.map((o) => o[k]))])) };
  row.fraction_of_raw = median(list.map((o) => o.requests_per_s / o.raw_requests_per_s));
  rows.push(row);
  console.log(JSON.stringify(row));
}
console.log(JSON.stringify({ python_requests_per_s, errors: peers.map((p) => p.error).filter(Boolean) }));
const cpu = listDevices()[0];
const out = path.join(root, 'bench', 'data', `padding-${gpu ? 'gpu' : 'cpu'}.json`);
fs.writeFileSync(out, JSON.stringify({
  machine: { date: new Date().toISOString().slice(0, 10), cpu: `${cpu.name} (${os.availableParallelism()} cores)`, ...(gpu ? { gpu: gpu.name } : {}), node: process.version, libtorch: buildInfo().torchVersion },
  command: `node bench/padding.mjs${quick ? ' --quick' : ''}`,
  python_requests_per_s,
  python_padding_fraction: peers[0]['pad-to-longest']?.padding_fraction ?? null,
  setup: `${callers} callers, ${requests} requests of random length 8..128 (seeded), a 2-layer transformer encoder (d_model 32) with a key-padding mask on ${device}, maxBatchSize 32, ${cpuThreads} CPU threads for every contender; Python with libgomp's own defaults, as a Python service runs; median of ${repeats} runs`,
  rows,
}, null, 2) + '\n');
console.log(`wrote ${path.relative(root, out)}`);
