/**
 * `torchpool profile`: loads a model, keeps it busy with callers, records a profile of the
 * engines (pool.profile()) and prints the tables of the slowest operators and, on a GPU, kernels.
 * @module
 */
import { resolveDevices } from './devices.js';
import { builtinModelNames, builtinModelPath } from './models.js';
import { InferencePool } from './pool.js';
import { DTYPES, type Dtype, isDtype, numel, type TensorData } from './tensor.js';
import { parseFlags } from './validate.js';

export const profileUsage = `Usage: torchpool profile --model <file|name> --shape <dims> [options]

Records what the engines run while callers keep the model busy, writes a Chrome trace (open it in
Perfetto or chrome://tracing) and prints the operators that took the most time.

  -m, --model <file|name>  TorchScript file (or .pt2 package), or a built-in model name
  -s, --shape <dims>       one request's input shape, batch included, e.g. 1,3,224,224
      --dtype <dtype>      input dtype (default: float32)
  -d, --devices <list>     all | cpu | cuda | e.g. cuda:0,cpu (default: all)
  -n, --requests <n>       requests to record (default: 200)
  -c, --concurrency <n>    callers keeping a request in flight each (default: 8)
  -o, --out <file>         the trace (default: torchpool-profile.json)
      --top <n>            operators to print (default: 15)
  -h, --help               this text`;

const OPTIONS = {
  model: { type: 'string', short: 'm' },
  shape: { type: 'string', short: 's' },
  dtype: { type: 'string' },
  devices: { type: 'string', short: 'd' },
  requests: { type: 'string', short: 'n' },
  concurrency: { type: 'string', short: 'c' },
  out: { type: 'string', short: 'o' },
  top: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A usage mistake: printed with the usage, exit code 2. */
export class ProfileUsageError extends Error {}

function positive(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new ProfileUsageError(`--${flag} expects a positive integer, got '${text}'`);
  return value;
}

export async function profileMain(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseFlags(argv, OPTIONS, (message) => new ProfileUsageError(message));
  } catch (error) {
    console.error(`torchpool profile: ${(error as Error).message}\n\n${profileUsage}`);
    return 2;
  }
  if (v.help) {
    console.log(profileUsage);
    return 0;
  }
  let settings;
  try {
    if (!v.model || !v.shape) throw new ProfileUsageError('--model and --shape are required');
    const shape = v.shape.split(',').map((d) => positive(d.trim(), 'shape', 1));
    const dtype = v.dtype ?? 'float32';
    if (!isDtype(dtype)) throw new ProfileUsageError(`--dtype expects one of ${Object.keys(DTYPES).join(', ')}, got '${dtype}'`);
    settings = {
      shape, dtype: dtype as Dtype,
      requests: positive(v.requests, 'requests', 200), concurrency: positive(v.concurrency, 'concurrency', 8), top: positive(v.top, 'top', 15),
      out: v.out ?? 'torchpool-profile.json',
    };
  } catch (error) {
    if (!(error instanceof ProfileUsageError)) throw error;
    console.error(`torchpool profile: ${error.message}\n\n${profileUsage}`);
    return 2;
  }
  const model = builtinModelNames().includes(v.model) ? await builtinModelPath(v.model) : v.model;
  const devices = resolveDevices(v.devices === undefined || ['all', 'cpu', 'cuda'].includes(v.devices) ? (v.devices as 'all' | undefined) : v.devices.split(','));
  const pool = await InferencePool.create({ model, devices, warmup: [{ shape: settings.shape, dtype: settings.dtype }] });
  const data = new DTYPES[settings.dtype].array(numel(settings.shape)) as TensorData;
  const input = { data, shape: settings.shape, dtype: settings.dtype };
  let running = true;
  const callers = Promise.all(Array.from({ length: settings.concurrency }, async () => { while (running) await pool.infer(input); }));
  try {
    const result = await pool.profile({ requests: settings.requests, path: settings.out });
    const width = Math.min(60, Math.max(9, ...result.ops.slice(0, settings.top).map((o) => o.name.length)));
    console.log(`${result.requests} requests in ${result.durationMs.toFixed(0)} ms on ${devices.join(', ')}; trace: ${result.tracePath}\n`);
    console.log(`${'operator'.padEnd(width)}  ${'calls'.padStart(8)}  ${'self ms'.padStart(10)}  ${'total ms'.padStart(10)}`);
    for (const op of result.ops.slice(0, settings.top)) {
      console.log(`${op.name.slice(0, width).padEnd(width)}  ${String(op.calls).padStart(8)}  ${op.selfMs.toFixed(2).padStart(10)}  ${op.totalMs.toFixed(2).padStart(10)}`);
    }
    if (result.kernels.length > 0) {
      const kernelWidth = Math.min(80, Math.max(6, ...result.kernels.slice(0, settings.top).map((k) => k.name.length)));
      console.log(`\n${'kernel'.padEnd(kernelWidth)}  ${'device'.padStart(6)}  ${'calls'.padStart(8)}  ${'GPU ms'.padStart(10)}`);
      for (const k of result.kernels.slice(0, settings.top)) {
        console.log(`${k.name.slice(0, kernelWidth).padEnd(kernelWidth)}  ${String(k.device).padStart(6)}  ${String(k.calls).padStart(8)}  ${k.totalMs.toFixed(2).padStart(10)}`);
      }
    } else if (result.kernelNote !== undefined) {
      console.log(`\nGPU kernels: none recorded (${result.kernelNote})`);
    }
    return 0;
  } finally {
    running = false;
    await callers;
    await pool.close();
  }
}
