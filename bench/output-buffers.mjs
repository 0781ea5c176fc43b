#!/usr/bin/env node
// Outputs into the caller's memory (issue 22): 100,000 requests of a model with a large output
// (the built-in identity on 64 Ki float32 per request: a 256 KiB output), one at a time, with a
// new output array per request (the default) and with `output` reusing one array. Records
// requests/s, garbage collections and their total pause (PerformanceObserver 'gc'), and the
// ArrayBuffer memory the process allocated (process.memoryUsage().arrayBuffers, sampled).
// Each variant runs in a process of its own. Writes bench/data/output-buffers-cpu.json.
//   node bench/output-buffers.mjs [--quick]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import torchpool from '../dist/index.js';
import { median, root } from './measure.mjs';

const { InferencePool, builtinModelPath, buildInfo, listDevices } = torchpool;
const self = fileURLToPath(import.meta.url);
const argv = process.argv.slice(2);
const ELEMENTS = 64 * 1024;

if (argv[0] === '--child') {
  const { reuse, requests } = JSON.parse(argv[1]);
  const pool = await InferencePool.create({ model: await builtinModelPath('identity', { cacheDir: path.join(root, '.cache', 'models') }), devices: 'cpu', batching: false });
  const input = { data: new Float32Array(ELEMENTS).fill(0.5), shape: [1, ELEMENTS] };
  const output = new Float32Array(ELEMENTS);
  const options = reuse ? { output } : undefined;
  for (let i = 0; i < 1000; i++) await pool.infer(input, options);
  let gcs = 0, gcMs = 0, peakArrayBuffers = 0;
  const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) { gcs++; gcMs += e.duration; } });
  observer.observe({ entryTypes: ['gc'] });
  const start = performance.now();
  for (let i = 0; i < requests; i++) {
    await pool.infer(input, options);
    if (i % 1000 === 0) peakArrayBuffers = Math.max(peakArrayBuffers, process.memoryUsage().arrayBuffers);
  }
  const seconds = (performance.now() - start) / 1000;
  await new Promise((r) => setTimeout(r, 50));
  observer.disconnect();
  console.log(JSON.stringify({ requests_per_s: requests / seconds, gcs, gc_ms: gcMs, peak_array_buffers_mib: peakArrayBuffers / 2 ** 20 }));
  await pool.close();
  process.exit(0);
}

const quick = argv.includes('--quick');
const requests = quick ? 20_000 : 100_000;
const repeats = quick ? 1 : 3;
const runs = { new: [], reuse: [] };
for (let r = 0; r < repeats; r++) {
  for (const variant of ['new', 'reuse']) {
    const out = spawnSync(process.execPath, [self, '--child', JSON.stringify({ reuse: variant === 'reuse', requests })], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(out.stderr);
    runs[variant].push(JSON.parse(out.stdout.trim().split('\n').pop()));
    console.log(variant, JSON.stringify(runs[variant].at(-1)));
  }
}
const summary = (list) => ({
  requests_per_s: median(list.map((o) => o.requests_per_s)), gcs: median(list.map((o) => o.gcs)),
  gc_ms: median(list.map((o) => o.gc_ms)), peak_array_buffers_mib: median(list.map((o) => o.peak_array_buffers_mib)),
});
const cpu = listDevices()[0];
const data = {
  machine: { date: new Date().toISOString().slice(0, 10), cpu: `${cpu.name} (${os.availableParallelism()} cores)`, node: process.version, libtorch: buildInfo().torchVersion },
  command: `node bench/output-buffers.mjs${quick ? ' --quick' : ''}`,
  setup: `${requests} requests one at a time, built-in identity model on [1, ${ELEMENTS}] float32 (256 KiB out), batching off, CPU; median of ${repeats} runs, each in a process of its own`,
  new: summary(runs.new),
  reuse: summary(runs.reuse),
};
const file = path.join(root, 'bench', 'data', 'output-buffers-cpu.json');
fs.writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
console.log(`wrote ${path.relative(root, file)}`);
