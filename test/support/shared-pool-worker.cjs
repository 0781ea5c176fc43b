// A worker_thread that attaches to a shared pool (test/native/shared-pool.test.ts). What it does
// is chosen by workerData.mode; it reports through postMessage.
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { InferencePool } = require(workerData.dist);

function input(seed) {
  const data = new Float32Array(256);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(seed * 0.7 + i * 0.01);
  return { data, shape: [1, 256] };
}

async function main() {
  const { mode, token } = workerData;
  if (mode === 'own') {
    // This worker owns a pool, shares it with the main thread, then keeps it busy.
    const pool = await InferencePool.create({ model: workerData.model, devices: 'cpu' });
    parentPort.postMessage({ token: pool.share() });
    await new Promise((resolve) => parentPort.once('message', resolve));
    parentPort.postMessage('exiting');
    process.exit(0);
  }
  const pool = await InferencePool.attach(token);
  if (mode === 'sequential') {
    // One request at a time: any batch of more than one request mixed threads.
    const outputs = [];
    for (let i = 0; i < workerData.requests; i++) {
      const seed = workerData.seeds[i % workerData.seeds.length];
      const out = await pool.infer(input(seed));
      outputs.push({ seed, data: Array.from(out.data.subarray(0, 10)) });
    }
    parentPort.postMessage({ outputs, stats: pool.stats() });
    await pool.close();
  } else if (mode === 'flood') {
    // Keeps 32 requests in flight until terminated.
    const x = input(workerData.seeds[0]);
    const again = () => pool.infer(x).then(again, () => undefined);
    for (let i = 0; i < 32; i++) again();
    setTimeout(() => parentPort.postMessage('busy'), 1);
  } else if (mode === 'exit') {
    for (let i = 0; i < 16; i++) pool.infer(input(i)).catch(() => undefined);
    setTimeout(() => process.exit(0), 1);
  } else if (mode === 'hold') {
    // Queues slow requests, then reports how each one ended once the owner closed.
    const codes = Promise.all(
      Array.from({ length: 8 }, () => pool.infer([{ data: new Float32Array(64), shape: [1, 64] }, workerData.iters]).then(() => 'ok', (e) => e.code)),
    );
    parentPort.postMessage('queued');
    const ended = await codes;
    const after = await pool.infer([{ data: new Float32Array(64), shape: [1, 64] }, 1]).then(() => 'ok', (e) => e.code);
    parentPort.postMessage({ ended, after, closed: pool.closed });
  }
}

main().catch((error) => parentPort.postMessage({ error: String(error), code: error && error.code }));
