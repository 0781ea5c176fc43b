#!/usr/bin/env node
// What one request costs the JS thread (issue 20): 64 callers keep one batch-1 request each in
// flight, default pool options, on the `tiny` model (a 16x16 linear layer: the forward costs
// almost nothing, so the JS thread is the limit), on `tuple_out` (as cheap, two output tensors)
// and on the MLP (256-1024-1024-10: the forward is the limit). Each run is a process of its own, alternating with the raw C++ loop at the batch
// size the pool merged; the peer is onnxruntime-node with the same 64 requests in flight.
//   node bench/js-turnaround.mjs [--quick] [--dist <a dist/ folder>] [--out <file>] [--label <text>]
// --dist measures another build (e.g. a worktree of an earlier commit) with the same method.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { closedLoopWithJsCost, cpuTimes, median, onnxPeer, rawForward, root } from './measure.mjs';

const self = fileURLToPath(import.meta.url);
const argv = process.argv.slice(2);
const flag = (name, fallback) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : fallback; };
const dist = path.resolve(flag('dist', path.join(root, 'dist')));
const { default: torchpool } = await import(pathToFileURL(path.join(dist, 'index.js')).href);

// Child: one pool, one closed loop; rows/s, mean batch and the JS thread's CPU per request.
if (argv[0] === '--child') {
  const { file, width, requests, concurrency } = JSON.parse(argv[1]);
  const pool = await torchpool.InferencePool.create({ model: file, devices: 'cpu' });
  const { rows_per_s, js_us_per_request, mean_batch, after } = await closedLoopWithJsCost(pool, { width, concurrency, requests, warmup: 50 });
  console.log(JSON.stringify({ rows_per_s, js_us_per_request, mean_batch, threads: after.engines[0].threads }));
  await pool.close();
  process.exit(0);
}

const quick = argv.includes('--quick');
const repeats = quick ? 3 : 7;
const concurrency = 64;
const threads = Math.max(1, os.availableParallelism());
const cacheDir = path.join(root, '.cache', 'models');
const models = [
  { name: 'tiny', width: 16, requests: quick ? 300_000 : 1_000_000 },
  { name: 'mlp', width: 256, requests: quick ? 60_000 : 200_000 },
  // Two outputs per request, (x + 1, x * 2): results that are tuples of tensors.
  { name: 'tuple_out', width: 8, requests: quick ? 300_000 : 1_000_000 },
];
const stolen = cpuTimes;
const cpuStart = stolen();

function child(file, width, requests) {
  const out = spawnSync(process.execPath, [self, '--child', JSON.stringify({ file, width, requests, concurrency }), '--dist', dist], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(out.stderr);
  return JSON.parse(out.stdout.trim().split('\n').pop());
}

const rows = [];
for (const model of models) {
  const file = await torchpool.builtinModelPath(model.name, { cacheDir });
  const runs = [];
  const raw = [];
  for (let r = 0; r < repeats; r++) {
    const run = child(file, model.width, model.requests);
    runs.push(run);
    const batch = Math.max(1, Math.round(run.mean_batch));
    const once = rawForward({ model: file, device: 'cpu', shape: [batch, model.width], iters: model.name === 'mlp' ? 300 : 20_000, warmup: 30, threads });
    raw.push({ batch, rows_per_s: (batch * 1e6) / once.p50_us });
  }
  const peer = onnxPeer({ file, shape: [1, model.width], threads, iters: model.name === 'mlp' ? 2_000 : 20_000, warmup: 50, concurrency });
  const row = {
    model: model.name, concurrency, threads: runs[0].threads, requests: model.requests,
    rows_per_s: median(runs.map((o) => o.rows_per_s)), mean_batch: median(runs.map((o) => o.mean_batch)),
    js_us_per_request: median(runs.map((o) => o.js_us_per_request)),
    raw_rows_per_s_at_merged_batch: median(raw.map((o) => o.rows_per_s)),
    fraction_of_raw: median(runs.map((o, i) => o.rows_per_s / raw[i].rows_per_s)),
    onnxruntime: peer.error ? { error: peer.error } : { rows_per_s: peer.concurrent_rows_per_s, version: peer.version },
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
const cpuEnd = stolen();
const data = {
  machine: { date: new Date().toISOString().slice(0, 10), cpu: `${os.cpus()[0].model} (${os.availableParallelism()} cores)`, node: process.version,
    libtorch: `${torchpool.buildInfo().torchVersion} (${torchpool.buildInfo().torchOrigin})`,
    command: ['node bench/js-turnaround.mjs', ...argv.map((a) => (/\s/.test(a) ? `'${a}'` : a))].join(' '),
    stealPercent: (100 * (cpuEnd.steal - cpuStart.steal)) / Math.max(1, cpuEnd.total - cpuStart.total) },
  label: flag('label', 'this build'), repeats, rows,
};
const out = path.resolve(flag('out', path.join(root, 'bench', 'data', 'js-turnaround.json')));
fs.writeFileSync(out, JSON.stringify(data, null, 2) + '\n');
console.log(`wrote ${path.relative(root, out)}`);
