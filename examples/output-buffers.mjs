// Outputs into your own memory: one Float32Array per caller, reused for every request, instead of
// a new array per result (no garbage for the collector on hot paths).
// Run: node examples/output-buffers.mjs
import { InferencePool, builtinModelPath } from 'torchpool';

const pool = await InferencePool.create({ model: await builtinModelPath('mlp'), devices: 'cpu' }); // [N, 256] -> [N, 10]

async function caller(id) {
  const input = { data: new Float32Array(256), shape: [1, 256] };
  const output = new Float32Array(10); // this caller's result, rewritten by every request
  let best = -Infinity;
  for (let i = 0; i < 200; i++) {
    input.data.fill((id + i) / 1000);
    const result = await pool.infer(input, { output }); // merged with other callers' requests
    if (result.data !== output) throw new Error('the result should be written into our array');
    best = Math.max(best, ...output);
  }
  return best;
}

const best = await Promise.all(Array.from({ length: 16 }, (_, id) => caller(id)));
console.log('largest logit per caller:', best.map((v) => v.toFixed(3)).join(' '));

// An array that cannot hold the output is refused before anything is written.
const error = await pool.infer({ data: new Float32Array(256), shape: [1, 256] }, { output: new Float32Array(3) }).catch((e) => e);
console.log(error.code, '-', error.message);
console.log('mean batch', pool.stats().meanBatchSize.toFixed(1));
await pool.close();
