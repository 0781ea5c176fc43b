// Inputs in page-locked memory: allocate once, fill, infer, reuse. On a GPU the engine copies
// them to the device directly; on the CPU they are ordinary memory and work the same.
// Run: node examples/pinned-inputs.mjs
import { InferencePool, builtinModelPath, listDevices } from 'torchpool';

const devices = listDevices().some((d) => d.type === 'cuda') ? 'cuda' : 'cpu';
const pool = await InferencePool.create({ model: await builtinModelPath('mlp'), devices });

const x = pool.allocInput([8, 256]); // { data: Float32Array(2048), shape: [8, 256], dtype: 'float32', pinned }
console.log(`pinned: ${x.pinned}${x.reason ? ` (${x.reason})` : ''}`);
for (let step = 0; step < 3; step++) {
  x.data.fill(step / 10); // write only between requests: the device reads it while one is in flight
  const y = await pool.infer(x);
  console.log(`step ${step}: first logits`, Array.from(y.data.slice(0, 3), (v) => v.toFixed(4)));
}
const cuda = pool.stats().engines[0].cuda;
if (cuda) console.log(`bytes copied straight from pinned inputs: ${cuda.pinned.directBytes}`);
await pool.close();
