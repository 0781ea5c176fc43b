#!/usr/bin/env node
// How CPU engines' OpenMP threads wait between forwards, against the JS thread that needs a core
// to settle and resubmit (issue 20): 64 callers keep one batch-1 MLP request each in flight, with
// default threads, maxBatchSize 32 and 64. Each OpenMP setting runs in a process of its own (the
// runtime reads it when it loads), alternating with the raw C++ loop at batch 64 on the same
// threads; figures are medians over repeats.   node bench/openmp-wait.mjs [--quick] [--out <file>]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import torchpool from '../dist/index.js';
import { closedLoopWithJsCost, cpuTimes, median, rawEnvironment, rawForward, root } from './measure.mjs';

const { InferencePool, builtinModelPath, buildInfo } = torchpool;
const self = fileURLToPath(import.meta.url);
const argv = process.argv.slice(2);

// Child: one pool, one closed loop; prints rows/s and the mean batch.
if (argv[0] === '--child') {
  const { file, maxBatchSize, requests, concurrency, options } = JSON.parse(argv[1]);
  const pool = await InferencePool.create({ model: file, devices: 'cpu', maxBatchSize, ...options });
  const { rows_per_s, js_us_per_request, mean_batch, after } = await closedLoopWithJsCost(pool, { width: 256, concurrency, requests, warmup: 20 });
  const { openmp } = after.processSettings;
  // One request at a time: what the wait policy costs a lone caller (each parallel region has to
  // wake the team when it sleeps between them).
  const latency = {};
  for (const rows of [1, 64]) {
    const input = { data: new Float32Array(rows * 256).map(() => Math.random()), shape: [rows, 256] };
    const micros = [];
    for (let i = 0; i < 50 + (rows === 1 ? 2000 : 500); i++) {
      const t = performance.now();
      await pool.infer(input);
      if (i >= 50) micros.push((performance.now() - t) * 1000);
    }
    micros.sort((a, b) => a - b);
    latency[`batch${rows}_p50_us`] = micros[Math.floor(micros.length / 2)];
  }
  console.log(JSON.stringify({ rows_per_s, js_us_per_request, mean_batch, threads: after.engines[0].threads, openmp, ...latency }));
  await pool.close();
  process.exit(0);
}

const quick = argv.includes('--quick');
const repeats = quick ? 2 : 5;
const requests = quick ? 20_000 : 60_000;
const concurrency = 64;
const file = await builtinModelPath('mlp', { cacheDir: path.join(root, '.cache', 'models') });
const threads = Math.max(1, os.availableParallelism());
// Unset: what torchpool does by default. The others are set in the environment, as a user would.
const settings = [
  { name: 'torchpool default (GOMP_SPINCOUNT=1000, OMP_WAIT_POLICY=active)', env: {} },
  { name: 'GOMP_SPINCOUNT=1000 alone (libgomp throttles it to 100 past one thread per core)', env: { GOMP_SPINCOUNT: '1000' } },
  { name: 'libgomp default (GOMP_SPINCOUNT=300000)', env: { GOMP_SPINCOUNT: '300000' } },
  { name: 'OMP_WAIT_POLICY=passive', env: { OMP_WAIT_POLICY: 'passive' } },
  { name: 'GOMP_SPINCOUNT=10000', env: { GOMP_SPINCOUNT: '10000' } },
  { name: 'GOMP_SPINCOUNT=30000', env: { GOMP_SPINCOUNT: '30000' } },
  // The same threads as one-thread engines: no OpenMP team, so the JS thread delays one engine's
  // forward instead of stalling both threads of one at every parallel region.
  { name: `torchpool default OpenMP, ${threads} engines of 1 thread (instancesPerDevice: ${threads}, threadsPerEngine: 1)`, env: {}, options: { instancesPerDevice: threads, threadsPerEngine: 1 } },
];
const stolen = cpuTimes;
const cpuStart = stolen();

function child(env, maxBatchSize, options = {}) {
  const clean = rawEnvironment();
  for (const k of ['OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'KMP_BLOCKTIME']) delete clean[k];
  const out = spawnSync(process.execPath, [self, '--child', JSON.stringify({ file, maxBatchSize, requests, concurrency, options })], { env: { ...clean, ...env }, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(out.stderr);
  return JSON.parse(out.stdout.trim().split('\n').pop());
}

// Two references from the same run: raw at batch 64 (what the issue compared with) and raw at
// the batch size the pool actually merged (about 32 either way: with 64 callers one batch
// computes while the JS thread turns the other around), which isolates torchpool's overhead
// from batch-size efficiency.
const rawAt = (batch) => rawForward({ model: file, device: 'cpu', shape: [batch, 256], iters: 300, warmup: 30, threads });
const rows = [];
for (const maxBatchSize of [32, 64]) {
  const runs = Object.fromEntries(settings.map((s) => [s.name, []]));
  const raw = [];
  const raw32 = [];
  for (let r = 0; r < repeats; r++) {
    for (const s of settings) {
      raw.push(rawAt(64));
      raw32.push(rawAt(32));
      runs[s.name].push(child(s.env, maxBatchSize, s.options));
    }
  }
  const rawRowsPerS = (64 * 1e6) / median(raw.map((o) => o.p50_us));
  for (const s of settings) {
    const at = (i) => i * settings.length + settings.indexOf(s);
    const ratios = runs[s.name].map((o, i) => o.rows_per_s / ((64 * 1e6) / raw[at(i)].p50_us));
    const ratios32 = runs[s.name].map((o, i) => o.rows_per_s / ((32 * 1e6) / raw32[at(i)].p50_us));
    const row = { setting: s.name, maxBatchSize, concurrency, threads, rows_per_s: median(runs[s.name].map((o) => o.rows_per_s)), mean_batch: median(runs[s.name].map((o) => o.mean_batch)),
      raw_rows_per_s_batch64: rawRowsPerS, fraction_of_raw: median(ratios),
      raw_rows_per_s_batch32: (32 * 1e6) / median(raw32.map((o) => o.p50_us)), fraction_of_raw_batch32: median(ratios32),
      js_us_per_request: median(runs[s.name].map((o) => o.js_us_per_request)), openmp: runs[s.name][0].openmp,
      batch1_p50_us: median(runs[s.name].map((o) => o.batch1_p50_us)), batch64_p50_us: median(runs[s.name].map((o) => o.batch64_p50_us)),
      raw_batch64_p50_us: median(raw.map((o) => o.p50_us)) };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
const cpuEnd = stolen();
const data = {
  machine: { date: new Date().toISOString().slice(0, 10), cpu: `${os.cpus()[0].model} (${os.availableParallelism()} cores)`, node: process.version,
    libtorch: `${buildInfo().torchVersion} (${buildInfo().torchOrigin})`, command: `node bench/openmp-wait.mjs ${argv.join(' ')}`.trim(),
    stealPercent: (100 * (cpuEnd.steal - cpuStart.steal)) / Math.max(1, cpuEnd.total - cpuStart.total) },
  repeats, requests, rows,
};
const outAt = argv.indexOf('--out');
const out = path.resolve(outAt >= 0 ? argv[outAt + 1] : path.join(root, 'bench', 'data', 'openmp-wait.json'));
fs.writeFileSync(out, JSON.stringify(data, null, 2) + '\n');
console.log(`wrote ${path.relative(root, out)}`);
