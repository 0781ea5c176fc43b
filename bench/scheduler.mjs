// Scheduler benchmarks (issue 3): per-request overhead with and without spinning, dynamic
// batching against raw libtorch at the merged batch size, and the makespan of a skewed job on
// the shared queue against static splits. Every figure is a median over `repeats` runs.
import torchpool from '../dist/index.js';
import { median, onnxPeer, rawForward, torchpoolLatency } from './measure.mjs';

const { InferencePool } = torchpool;

/** (1) infer() on the tiny model, one request at a time, spinMicros 0 and `spin`, vs the C++ loop. */
export async function overhead({ file, repeats, iters, spin = 50 }) {
  const rows = [];
  const raw = [];
  for (let r = 0; r < repeats; r++) raw.push(rawForward({ model: file, device: 'cpu', shape: [1, 16], iters, warmup: 200, threads: 1 }));
  const rawP50 = median(raw.map((o) => o.p50_us));
  for (const spinMicros of [0, spin]) {
    const runs = [];
    for (let r = 0; r < repeats; r++) {
      const pool = await InferencePool.create({ model: file, devices: 'cpu', threadsPerEngine: 1, spinMicros });
      runs.push(await torchpoolLatency(pool, { shape: [1, 16], iters, warmup: 300 }));
      await pool.close();
    }
    const p50 = median(runs.map((o) => o.p50_us));
    rows.push({ spinMicros, torchpool_p50_us: p50, torchpool_p99_us: median(runs.map((o) => o.p99_us)), raw_p50_us: rawP50, overhead_us: p50 - rawP50 });
    console.log(JSON.stringify(rows.at(-1)));
  }
  return rows;
}

/** Keeps `concurrency` single-row requests in flight until `requests` are done; rows per second and mean batch. */
async function closedLoop(pool, { width, concurrency, requests }) {
  const x = { data: new Float32Array(width).map(() => Math.random()), shape: [1, width] };
  let next = 0;
  const worker = async (count) => { while (next++ < count) await pool.infer(x); };
  await Promise.all(Array.from({ length: concurrency }, () => worker(concurrency * 4)));
  next = 0;
  const before = pool.stats();
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, () => worker(requests)));
  const seconds = (performance.now() - start) / 1000;
  const after = pool.stats();
  const batches = after.batches - before.batches;
  return { rows_per_s: requests / seconds, mean_batch: (after.requests - before.requests) / Math.max(1, batches) };
}

/** (2) 64 concurrent batch-1 MLP requests with and without dynamic batching, vs raw at the merged batch size. */
export async function batching({ file, repeats, threads, requests, concurrency = 64 }) {
  const variants = [
    { name: 'no batching', options: { batching: false } },
    // Half the concurrency: one batch computes while the next one fills.
    { name: 'maxBatchSize 32', options: { maxBatchSize: 32 } },
    { name: 'maxBatchSize 32, maxQueueDelayMicros 2000', options: { maxBatchSize: 32, maxQueueDelayMicros: 2000 } },
    // All 64 in one batch: the engine waits while the JS thread turns the whole batch around.
    { name: 'maxBatchSize 64', options: { maxBatchSize: 64 } },
    { name: 'maxBatchSize 64, maxQueueDelayMicros 2000', options: { maxBatchSize: 64, maxQueueDelayMicros: 2000 } },
  ];
  const rows = [];
  for (const { name, options } of variants) {
    const runs = [];
    for (let r = 0; r < repeats; r++) {
      const pool = await InferencePool.create({ model: file, devices: 'cpu', threadsPerEngine: threads, ...options });
      runs.push(await closedLoop(pool, { width: 256, concurrency, requests }));
      await pool.close();
    }
    const meanBatch = median(runs.map((o) => o.mean_batch));
    const merged = Math.max(1, Math.round(meanBatch));
    const raw = [];
    for (let r = 0; r < repeats; r++) raw.push(rawForward({ model: file, device: 'cpu', shape: [merged, 256], iters: 200, warmup: 20, threads }));
    const rawRowsPerS = (merged * 1e6) / median(raw.map((o) => o.p50_us));
    const row = { name, concurrency, rows_per_s: median(runs.map((o) => o.rows_per_s)), mean_batch: meanBatch, raw_batch: merged, raw_rows_per_s: rawRowsPerS };
    row.fraction_of_raw = row.rows_per_s / rawRowsPerS;
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  // The peer: onnxruntime-node runs each session.run() on the JS thread, one after the other.
  const ort = [];
  for (let r = 0; r < repeats; r++) ort.push(onnxPeer({ file, shape: [1, 256], threads, iters: Math.round(requests / 8), warmup: 20, concurrency }));
  const peer = ort[0].error ? { error: ort[0].error } : { rows_per_s: median(ort.map((o) => o.concurrent_rows_per_s)) };
  console.log(JSON.stringify({ onnxruntime: peer }));
  return { rows, onnxruntime: peer };
}

/**
 * (3) A job of `items` whose costs rise from 1x to 10x (as in a dataset sorted by length), on
 * `engines` CPU engines: the shared queue against static equal splits (contiguous blocks, and
 * round-robin), each engine a pool of its own. Ideal = total compute / engines.
 */
export async function skewedJob({ file, repeats, engines = 2, items = 80, unitIters = 800 }) {
  const costs = Array.from({ length: items }, (_, i) => 1 + Math.round((9 * i) / (items - 1)));
  const input = (c) => [{ data: new Float32Array(64).fill(0.1), shape: [1, 64] }, c * unitIters];
  const options = { model: file, threadsPerEngine: 1, batching: false };
  const results = { shared: [], contiguous: [], roundRobin: [], ideal: [] };
  for (let r = 0; r < repeats; r++) {
    const shared = await InferencePool.create({ ...options, devices: Array(engines).fill('cpu') });
    await Promise.all(costs.slice(0, 4).map((c) => shared.infer(input(c))));
    const busyBefore = shared.stats().engines.reduce((n, e) => n + e.busyMs, 0);
    let start = performance.now();
    await Promise.all(costs.map((c) => shared.infer(input(c))));
    results.shared.push(performance.now() - start);
    results.ideal.push((shared.stats().engines.reduce((n, e) => n + e.busyMs, 0) - busyBefore) / engines);
    await shared.close();

    const pools = await Promise.all(Array.from({ length: engines }, () => InferencePool.create({ ...options, devices: 'cpu' })));
    await Promise.all(pools.map((p) => p.infer(input(1))));
    for (const [kind, part] of [
      ['contiguous', (k) => costs.slice((k * items) / engines, ((k + 1) * items) / engines)],
      ['roundRobin', (k) => costs.filter((_, i) => i % engines === k)],
    ]) {
      start = performance.now();
      await Promise.all(pools.map((p, k) => Promise.all(part(k).map((c) => p.infer(input(c))))));
      results[kind].push(performance.now() - start);
    }
    await Promise.all(pools.map((p) => p.close()));
  }
  const row = {
    engines, items, cost_range: '1x-10x, ascending',
    ideal_ms: median(results.ideal),
    shared_ms: median(results.shared),
    static_contiguous_ms: median(results.contiguous),
    static_round_robin_ms: median(results.roundRobin),
  };
  row.shared_over_ideal = row.shared_ms / row.ideal_ms;
  row.contiguous_over_ideal = row.static_contiguous_ms / row.ideal_ms;
  row.round_robin_over_ideal = row.static_round_robin_ms / row.ideal_ms;
  console.log(JSON.stringify(row));
  return row;
}
