// Named inputs, tuple and dict outputs, errors that reject one request only.
// Run: node examples/many-inputs.mjs
import { InferencePool, TorchpoolError, builtinModelPath } from 'torchpool';

// forward(self, x: Tensor, y: Tensor) -> Tensor
const pool = await InferencePool.create({ model: await builtinModelPath('two_input'), devices: 'cpu' });
console.log(pool.signature); // { inputs: [{ name: 'x', ... }, { name: 'y', ... }], output: 'Tensor' }

const x = { data: new Float32Array(8).fill(1), shape: [1, 8] };
const y = { data: new Float32Array(4).fill(0.5), shape: [1, 4] };
const positional = await pool.infer([x, y]);
const named = await pool.infer({ x, y });
console.log(positional.data, named.data);

try {
  await pool.infer({ x: { data: new Float32Array(3), shape: [1, 8] }, y });
} catch (error) {
  if (!(error instanceof TorchpoolError)) throw error;
  console.log(error.code, '-', error.message); // ERR_TORCHPOOL_INVALID_ARG - Expected 8 elements ...
}
await pool.close(); // in TypeScript 5.2+, `await using pool = ...` does this at scope exit
