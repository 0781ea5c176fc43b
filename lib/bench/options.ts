/**
 * `torchpool bench` flags: parsing, checks and defaults. Every mistake is a BenchUsageError
 * with a message that names the flag, printed with the usage and exit code 2.
 * @module
 */
import { parseFlags } from '../validate.js';

export const benchUsage = `Usage: torchpool bench [options]

Measures a model on this machine: throughput and latency for each batch size and concurrency,
event-loop delay, and how the work scales over devices (shared queue vs a static split).

Model
  -m, --model <file|name>     TorchScript file, or a built-in model name (default: mlp)
      --input-shape <dims>    shape of one item without the batch dimension, e.g. 3,224,224
                              (built-in models know theirs)
      --dtype <dtype>         input dtype (default: float32)
Pool
  -d, --devices <list>        all | cpu | cuda | a list such as cuda:0,cuda:1 or cpu,cpu (default: all)
      --instances <n>         engines per device (default: 1)
      --threads <n>           intra-op threads per CPU engine (default: cores / CPU engines)
      --max-batch-size <n>    dynamic batching limit in rows; 0 turns batching off (default: 32)
      --max-queue-delay <us>  how long a batch may wait to fill, in microseconds (default: 0)
      --spin <us>             engine spin before sleeping, in microseconds (default: 0)
      --precision <list>      fp32, fp16 (CUDA engines), bf16 (default: fp32)
      --channels-last         lay 4-d inputs and weights out channels-last (NHWC)
      --batch-buckets <list>  batch sizes merged batches are padded up to, e.g. 1,8,32, or none
                              (default: powers of two up to --max-batch-size on CUDA engines)
      --cuda-graphs           CUDA engines: capture a graph per bucket, at load
      --graph-batch-sizes <l> the former name of --batch-buckets
      --pipeline-depth <n>    CUDA engines: batches in flight per engine (default: 2)
      --fill-while-busy       CUDA engines: keep filling a partial batch while the previous one
      --no-fill-while-busy    still runs (default: with --cuda-graphs only)
      --no-optimized-execution  TorchScript: run without the JIT's optimisations (torchscript.optimizedExecution)
      --profiling-executor <on|off>  TorchScript's profiling executor, process-wide (default: libtorch's)
      --tensor-expr-fuser <on|off>   TorchScript's tensor-expression fuser, process-wide (default: libtorch's)
Load
  -b, --batch <list>          rows per request (default: 1,8,32)
  -c, --concurrency <list>    requests kept in flight (default: 1,16,64)
      --duration <time>       measuring time per configuration, e.g. 10s, 500ms (default: 5s)
      --requests <n>          measure this many requests per configuration instead of a duration
      --warmup <time|n>       warmup per configuration: a time, or a number of requests (default: 1s)
      --no-scaling            skip the device scaling and static-split runs
      --cold-start            instead of the steady runs: create the pool and, the moment create()
                              resolves, start the callers of each --concurrency (default 16,64);
                              requests/s and the worst latency per 500 ms window over --duration
                              (default 6s); every bucket of one item's shape is warmed at load
Output
  -o, --out <dir>             where report.json, report.md and report.svg go (default: ./torchpool-bench)
      --json                  print the JSON report on stdout instead of tables
  -q, --quiet                 no progress output
  -h, --help                  this text

Example: npx torchpool bench --model resnet18 --input-shape 3,64,64 --batch 1,16 --concurrency 1,8`;

/** A malformed command line. */
export class BenchUsageError extends Error {}

/** Either a time budget or a number of requests. */
export type Budget = { ms: number } | { requests: number };

export interface BenchOptions {
  model: string;
  inputShape: number[] | undefined;
  dtype: string;
  devices: string;
  instances: number;
  threads: number | undefined;
  maxBatchSize: number;
  maxQueueDelayMicros: number;
  spinMicros: number;
  precisions: ('fp32' | 'fp16' | 'bf16')[];
  cudaGraphs: boolean;
  channelsLast: boolean;
  /** undefined: the pool's default; [] for `none`. */
  batchBuckets: number[] | undefined;
  pipelineDepth: number | undefined;
  /** undefined: the pool's default. */
  fillWhileBusy: boolean | undefined;
  optimizedExecution: boolean;
  profilingExecutor: boolean | undefined;
  tensorExprFuser: boolean | undefined;
  coldStart: boolean;
  batches: number[];
  concurrencies: number[];
  measure: Budget;
  warmup: Budget;
  scaling: boolean;
  out: string;
  json: boolean;
  quiet: boolean;
}

function positiveList(value: string, flag: string): number[] {
  const items = value.split(',').map((s) => s.trim());
  const numbers = items.map(Number);
  if (items.length === 0 || numbers.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new BenchUsageError(`--${flag} expects positive integers separated by commas, got '${value}'`);
  }
  return numbers;
}

function integer(value: string | undefined, flag: string, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new BenchUsageError(`--${flag} expects an integer >= ${min}, got '${value}'`);
  return n;
}

/** `10s`, `500ms`, `2m`, `1.5s` in milliseconds. */
export function parseDuration(value: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new BenchUsageError(`--${flag} expects a time such as 10s, 500ms or 2m, got '${value}'`);
  const n = Number(match[1]);
  const ms = match[2] === 'ms' ? n : match[2] === 'm' ? n * 60_000 : n * 1000;
  if (ms <= 0) throw new BenchUsageError(`--${flag} must be longer than 0, got '${value}'`);
  return ms;
}

const BENCH_OPTIONS = {
  model: { type: 'string', short: 'm' },
  'input-shape': { type: 'string' },
  dtype: { type: 'string' },
  devices: { type: 'string', short: 'd' },
  instances: { type: 'string' },
  threads: { type: 'string' },
  'max-batch-size': { type: 'string' },
  'max-queue-delay': { type: 'string' },
  spin: { type: 'string' },
  precision: { type: 'string' },
  'cuda-graphs': { type: 'boolean' },
  'channels-last': { type: 'boolean' },
  'batch-buckets': { type: 'string' },
  'graph-batch-sizes': { type: 'string' },
  'pipeline-depth': { type: 'string' },
  'fill-while-busy': { type: 'boolean' },
  'no-fill-while-busy': { type: 'boolean' },
  'no-optimized-execution': { type: 'boolean' },
  'profiling-executor': { type: 'string' },
  'tensor-expr-fuser': { type: 'string' },
  'cold-start': { type: 'boolean' },
  batch: { type: 'string', short: 'b' },
  concurrency: { type: 'string', short: 'c' },
  duration: { type: 'string' },
  requests: { type: 'string' },
  warmup: { type: 'string' },
  'no-scaling': { type: 'boolean' },
  out: { type: 'string', short: 'o' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses argv (without `bench`); returns undefined for --help. */
export function parseBenchArgs(argv: string[]): BenchOptions | undefined {
  const v = parseFlags(argv, BENCH_OPTIONS, (message) => new BenchUsageError(message));
  if (v.help) return undefined;
  if (v.duration !== undefined && v.requests !== undefined) throw new BenchUsageError('give either --duration or --requests, not both');
  if (v['cold-start'] && v.requests !== undefined) throw new BenchUsageError('--cold-start runs for a --duration, not a number of --requests');
  const precisions = (v.precision ?? 'fp32').split(',').map((p) => p.trim());
  for (const p of precisions) {
    if (p !== 'fp32' && p !== 'fp16' && p !== 'bf16') throw new BenchUsageError(`--precision expects fp32, fp16 or bf16, got '${p}'`);
  }
  let inputShape: number[] | undefined;
  if (v['input-shape'] !== undefined) inputShape = positiveList(v['input-shape'], 'input-shape');
  if (v['graph-batch-sizes'] !== undefined && v['batch-buckets'] !== undefined) throw new BenchUsageError('give either --batch-buckets or --graph-batch-sizes (its former name), not both');
  if (v['fill-while-busy'] && v['no-fill-while-busy']) throw new BenchUsageError('give either --fill-while-busy or --no-fill-while-busy');
  const buckets = v['batch-buckets'] ?? v['graph-batch-sizes'];
  const flag = v['batch-buckets'] !== undefined ? 'batch-buckets' : 'graph-batch-sizes';
  const onOff = (value: string | undefined, name: string): boolean | undefined => {
    if (value === undefined) return undefined;
    if (value !== 'on' && value !== 'off') throw new BenchUsageError(`--${name} expects on or off, got '${value}'`);
    return value === 'on';
  };
  const coldStart = v['cold-start'] ?? false;
  const warmup: Budget =
    v.warmup === undefined ? { ms: 1000 } : /^\d+$/.test(v.warmup) ? { requests: Number(v.warmup) } : { ms: parseDuration(v.warmup, 'warmup') };
  return {
    model: v.model ?? 'mlp',
    inputShape,
    dtype: v.dtype ?? 'float32',
    devices: v.devices ?? 'all',
    instances: integer(v.instances, 'instances', 1, 1),
    threads: v.threads === undefined ? undefined : integer(v.threads, 'threads', 1, 1),
    maxBatchSize: integer(v['max-batch-size'], 'max-batch-size', 0, 32),
    maxQueueDelayMicros: integer(v['max-queue-delay'], 'max-queue-delay', 0, 0),
    spinMicros: integer(v.spin, 'spin', 0, 0),
    precisions: precisions as ('fp32' | 'fp16' | 'bf16')[],
    cudaGraphs: v['cuda-graphs'] ?? false,
    channelsLast: v['channels-last'] ?? false,
    batchBuckets: buckets === undefined ? undefined : buckets === 'none' ? [] : positiveList(buckets, flag),
    pipelineDepth: v['pipeline-depth'] === undefined ? undefined : integer(v['pipeline-depth'], 'pipeline-depth', 1, 2),
    fillWhileBusy: v['fill-while-busy'] ? true : v['no-fill-while-busy'] ? false : undefined,
    optimizedExecution: !v['no-optimized-execution'],
    profilingExecutor: onOff(v['profiling-executor'], 'profiling-executor'),
    tensorExprFuser: onOff(v['tensor-expr-fuser'], 'tensor-expr-fuser'),
    coldStart,
    batches: positiveList(v.batch ?? (coldStart ? '1' : '1,8,32'), 'batch'),
    concurrencies: positiveList(v.concurrency ?? (coldStart ? '16,64' : '1,16,64'), 'concurrency'),
    measure: v.requests !== undefined ? { requests: integer(v.requests, 'requests', 1, 1) } : { ms: parseDuration(v.duration ?? (coldStart ? '6s' : '5s'), 'duration') },
    warmup,
    scaling: !v['no-scaling'],
    out: v.out ?? 'torchpool-bench',
    json: v.json ?? false,
    quiet: v.quiet ?? false,
  };
}
