#!/usr/bin/env node
// One pool, many JS threads: 64 concurrent batch-1 MLP callers spread over T threads (the owner
// and T-1 worker_threads attached with pool.share() / InferencePool.attach()), one engine on the
// GPU (else the CPU). Reports items/s for each T and every thread's event-loop delay p99.
// Writes bench/data/threads-<cpu|gpu>.json.   node bench/threads.mjs [--quick]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import torchpool from '../dist/index.js';
import { median, root } from './measure.mjs';

const { InferencePool, builtinModelPath, listDevices } = torchpool;
const CALLERS = 64;

/** `callers` loops of one batch-1 request each for `ms`; returns requests done and the loop delay p99. */
async function drive(pool, callers, ms) {
  const x = { data: new Float32Array(256).fill(0.25), shape: [1, 256] };
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const deadline = performance.now() + ms;
  let done = 0;
  await Promise.all(Array.from({ length: callers }, async () => {
    while (performance.now() < deadline) {
      await pool.infer(x);
      done++;
    }
  }));
  loop.disable();
  return { done, loopP99Ms: loop.percentile(99) / 1e6 };
}

if (!isMainThread) {
  // A worker: attach, wait for the start signal, drive its share of the callers.
  const pool = await InferencePool.attach(workerData.token);
  parentPort.postMessage('attached');
  parentPort.once('message', async ({ ms }) => {
    const result = await drive(pool, workerData.callers, ms);
    await pool.close();
    parentPort.postMessage(result);
  });
} else {
  const quick = process.argv.includes('--quick');
  const gpu = listDevices().some((d) => d.type === 'cuda');
  const devices = gpu ? ['cuda:0'] : ['cpu'];
  const cores = os.availableParallelism();
  const threadCounts = (gpu ? [1, 2, 4, 8] : [1, 2]).filter((t) => t <= Math.max(2, cores));
  const ms = quick ? 1500 : 4000;
  const repeats = quick ? 1 : 3;
  const model = await builtinModelPath('mlp', { cacheDir: path.join(root, '.cache', 'models') });
  const pool = await InferencePool.create({ model, devices, maxBatchSize: 64 });
  const token = pool.share();
  await drive(pool, CALLERS, 500); // warm up

  const rows = [];
  for (const threads of threadCounts) {
    const runs = [];
    for (let r = 0; r < repeats; r++) {
      const share = (i) => Math.floor(CALLERS / threads) + (i < CALLERS % threads ? 1 : 0);
      const workers = Array.from({ length: threads - 1 }, (_, i) => new Worker(new URL(import.meta.url), { workerData: { token, callers: share(i + 1) } }));
      const exited = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)));
      await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
      const before = pool.stats();
      const start = performance.now();
      const results = workers.map((w) => new Promise((resolve) => w.once('message', resolve)));
      for (const w of workers) w.postMessage({ ms });
      const own = await drive(pool, share(0), ms);
      const all = [own, ...(await Promise.all(results))];
      const seconds = (performance.now() - start) / 1000;
      const after = pool.stats();
      await Promise.all(exited);
      const requests = all.reduce((n, r) => n + r.done, 0);
      runs.push({
        items_per_s: requests / seconds,
        mean_batch: (after.requests - before.requests) / Math.max(1, after.batches - before.batches),
        worst_loop_p99_ms: Math.max(...all.map((r) => r.loopP99Ms)),
      });
    }
    const row = {
      threads,
      callers: CALLERS,
      items_per_s: median(runs.map((r) => r.items_per_s)),
      mean_batch: median(runs.map((r) => r.mean_batch)),
      worst_loop_p99_ms: median(runs.map((r) => r.worst_loop_p99_ms)),
    };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  await pool.close();
  const out = path.join(root, 'bench', 'data', `threads-${gpu ? 'gpu' : 'cpu'}.json`);
  fs.writeFileSync(out, JSON.stringify({
    machine: { date: new Date().toISOString().slice(0, 10), cpu: `${os.cpus()[0].model} (${cores} cores)`, devices: devices.join(','), node: process.version },
    command: `node bench/threads.mjs${quick ? ' --quick' : ''}`,
    setup: `built-in mlp, ${CALLERS} concurrent batch-1 callers spread over the threads, one engine (maxBatchSize 64), ${ms / 1000} s per run, median of ${repeats}`,
    rows,
  }, null, 2) + '\n');
  console.log(`wrote ${path.relative(root, out)}`);
}
