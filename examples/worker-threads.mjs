// One pool, several threads: the main thread loads the model once and shares it; each
// worker_thread attaches to the same engines. Requests from every thread go to one queue (and
// merge into the same batches); each thread's promises settle on that thread.
import { Worker, isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import { InferencePool, builtinModelPath } from 'torchpool';

if (isMainThread) {
  const pool = await InferencePool.create({ model: await builtinModelPath('mlp'), maxQueueDelayMicros: 1000 });
  const token = pool.share(); // plain data: postMessage it, or pass it as workerData

  const workers = [1, 2, 3].map((n) => new Worker(new URL(import.meta.url), { workerData: { token, n } }));
  const replies = await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  for (const reply of replies) console.log(reply);

  const stats = pool.stats();
  console.log(`${stats.requests} requests in ${stats.batches} forwards on ${stats.engines.length} engine(s)`);
  await pool.close(); // the owner's close() closes the engines for every thread
} else {
  const pool = await InferencePool.attach(workerData.token);
  const x = { data: new Float32Array(256).fill(workerData.n / 10), shape: [1, 256] };
  const outputs = await Promise.all(Array.from({ length: 50 }, () => pool.infer(x)));
  parentPort.postMessage(`thread ${threadId}: ${outputs.length} results, first ${outputs[0].data[0].toFixed(4)}`);
  await pool.close(); // an attached pool's close() only detaches this thread
}
