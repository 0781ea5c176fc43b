// Quick start: load a TorchScript model on every device and run one request.
// Run: node examples/quick-start.mjs
import { InferencePool, builtinModelPath, listDevices } from 'torchpool';

console.log(listDevices().map((d) => `${d.id}: ${d.name}`).join('\n'));

// Any file saved with torch.jit.save works; here a built-in MLP (256 -> 10) is generated.
const model = await builtinModelPath('mlp');
const pool = await InferencePool.create({ model }); // devices: 'all' (GPUs, else the CPU)

const input = { data: new Float32Array(2 * 256).fill(0.5), shape: [2, 256] };
const output = await pool.infer(input);
console.log(output.dtype, output.shape, Array.from(output.data.slice(0, 3)));

console.log(pool.stats().engines);
await pool.close();
