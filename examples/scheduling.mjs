// The scheduler: many concurrent requests batched together, priorities, timeouts, aborts,
// backpressure, a large job through map(), and what stats() reports.
// Run: node examples/scheduling.mjs
import { ErrorCodes, InferencePool, builtinModelPath } from 'torchpool';

const pool = await InferencePool.create({
  model: await builtinModelPath('mlp'), // forward(x: [N, 256]) -> [N, 10]
  devices: ['cpu', 'cpu'],              // two engines sharing one queue
  maxBatchSize: 32,                     // merge up to 32 rows into one forward
  maxQueueSize: 1000,                   // beyond this, infer() rejects with QUEUE_FULL
});
pool.on('queueFull', ({ maxQueueSize }) => console.warn(`queue full (${maxQueueSize}): shed load`));

const row = () => ({ data: new Float32Array(256).map(() => Math.random()), shape: [1, 256] });

// 200 concurrent single-row requests: merged into batches, each caller gets its own row back.
const outputs = await Promise.all(Array.from({ length: 200 }, () => pool.infer(row())));
console.log('200 requests ->', outputs[0].shape, 'each; mean batch', pool.stats().meanBatchSize.toFixed(1));

// An interactive request next to bulk work, with a deadline and a way to cancel it.
const controller = new AbortController();
const urgent = pool.infer(row(), { priority: 'high', timeoutMs: 100, signal: controller.signal });
console.log('urgent:', (await urgent).shape);
controller.abort(); // too late to matter: it already resolved

const cancelled = pool.infer(row(), { signal: AbortSignal.abort() });
await cancelled.catch((error) => console.log('cancelled:', error.code === ErrorCodes.ABORTED));

// A large job with bounded memory: results in input order, failures reported by index.
const items = Array.from({ length: 1000 }, (_, i) => (i === 500 ? { data: new Float32Array(3), shape: [1, 3] } : row()));
let failed = 0;
for await (const { index, error } of pool.map(items, { concurrency: 64, priority: 'low' })) {
  if (error) {
    failed++;
    console.log(`item ${index} failed: ${error.code}`);
  }
}

// One big batch cut across both engines and glued back together.
const big = await pool.inferBatch({ data: new Float32Array(4096 * 256), shape: [4096, 256] });
console.log('inferBatch ->', big.shape);

const { engines, latency } = pool.stats();
for (const e of engines) console.log(`engine ${e.index}: ${e.requests} requests in ${e.batches} forwards, stole ${e.stolen}`);
console.log(`total latency p50 ${latency.totalMs.p50.toFixed(2)} ms, p99 ${latency.totalMs.p99.toFixed(2)} ms; ${failed} item failed`);
await pool.close({ drain: true });
