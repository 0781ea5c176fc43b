// Profiling a live pool: record what the engines run while callers keep it busy, then look at the
// slowest operators, and open the trace in Perfetto (https://ui.perfetto.dev) or chrome://tracing.
// On a machine with a GPU the pool runs there, and the profile also holds the GPU's kernels.
// Run: node examples/profile.mjs
import * as os from 'node:os';
import * as path from 'node:path';
import { InferencePool, builtinModelPath } from 'torchpool';

const pool = await InferencePool.create({ model: await builtinModelPath('resnet18'), warmup: [{ shape: [1, 3, 64, 64] }] });
const image = { data: new Float32Array(3 * 64 * 64).fill(0.5), shape: [1, 3, 64, 64] };

// Traffic goes on while the profile records.
let serving = true;
const callers = Promise.all(Array.from({ length: 8 }, async () => { while (serving) await pool.infer(image); }));

const { tracePath, ops, kernels, kernelNote, requests, durationMs } = await pool.profile({ requests: 100, path: path.join(os.tmpdir(), 'torchpool-example-trace.json') });
serving = false;
await callers;

console.log(`${requests} requests in ${durationMs.toFixed(0)} ms; trace: ${tracePath}`);
console.table(ops.slice(0, 8).map(({ name, calls, selfMs, totalMs }) => ({ name, calls, selfMs: +selfMs.toFixed(2), totalMs: +totalMs.toFixed(2) })));
if (kernels.length > 0) console.table(kernels.slice(0, 8).map(({ name, device, calls, totalMs }) => ({ name: name.slice(0, 60), device, calls, totalMs: +totalMs.toFixed(2) })));
if (kernelNote) console.log(`GPU kernels: ${kernelNote}`);
await pool.close();
