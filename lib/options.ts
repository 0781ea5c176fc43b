/**
 * Pool options: their checks and defaults, and the plan handed to the native loader.
 * @module
 */
import * as path from 'node:path';
import { nativeBinding } from './binding.js';
import { defaultThreadsPerEngine, type DeviceSelection, resolveDevices } from './devices.js';
import { invalidArg } from './errors.js';
import { EXECUTION_OPTION_KEYS, type ExecutionOptions, planExecution } from './execution.js';
import type { LoadPlan } from './native-types.js';

export type { LoadPlan } from './native-types.js';
import { checkBoolean, checkKnownKeys, checkPositiveInteger } from './validate.js';

/** Options of {@link InferencePool.create}; the execution options (precision, CUDA) are in {@link ExecutionOptions}. */
/** What kind of model `model` is; `'auto'` reads it from the file's layout. */
export type ModelFormat = 'auto' | 'torchscript' | 'aoti';

export interface InferencePoolOptions extends ExecutionOptions {
  /**
   * A TorchScript file (`torch.jit.save`), an AOTInductor package (`.pt2`, from
   * `torch._inductor.aoti_compile_and_package`; needs libtorch 2.6+), or the bytes of either.
   */
  model: string | Uint8Array;
  /** Default `'auto'`: TorchScript or AOTInductor, told apart by the file's layout. */
  format?: ModelFormat;
  /** AOTInductor: the model inside a package that holds several; default: its only one (or `model`). */
  modelName?: string;
  /**
   * Native libraries to load before the model (once per process, never unloaded) that register
   * TorchScript operators and classes: custom-op libraries, or `libtorchtrt_runtime.so` for
   * Torch-TensorRT models. `TORCHPOOL_EXTENSIONS` (paths separated by `:`) adds to them.
   */
  extensions?: readonly string[];
  /** Where engines run; default `'all'` (every GPU, or the CPU when there is none). */
  devices?: DeviceSelection;
  /**
   * Engines (model replicas, each with its own native thread) per device; default 1. More than
   * one lets a device overlap one request's host work with another's compute.
   */
  instancesPerDevice?: number;
  /**
   * Intra-op threads of each CPU engine. Default: the machine's cores divided by the number of
   * CPU engines (at least 1), so engines do not fight over cores; in a pool with CUDA engines,
   * less two cores per CUDA engine and one for the JS thread, which keep the GPU fed.
   */
  threadsPerEngine?: number;
  /**
   * Freeze the model and apply `torch.jit.optimize_for_inference` at load. Usually faster on
   * CPU; off by default because it can fail for models that mutate their attributes (those are
   * then run unfrozen).
   */
  optimize?: boolean;
  /**
   * Dynamic batching: merge concurrent requests whose inputs differ only in dim 0 into one
   * forward and split the outputs back. Default true. Set false for models whose rows are not
   * independent (a softmax over dim 0, a batch statistic). A model whose output does not keep
   * the batch's rows in dim 0 is detected and batching turns itself off.
   */
  batching?: boolean;
  /** Most rows (sum of dim 0) in one merged forward; default 32. */
  maxBatchSize?: number;
  /**
   * How long a request may wait for others to fill its batch, in microseconds; default 0
   * (merge only what is already queued, never add latency).
   */
  maxQueueDelayMicros?: number;
  /**
   * How long an engine that ran out of work spins before it sleeps, in microseconds; default 0.
   * Spinning saves the wake-up (tens of microseconds) for requests that arrive back to back, at
   * the price of a busy core while it spins.
   */
  spinMicros?: number;
  /** Requests allowed to wait in the queue; beyond it infer() rejects with QUEUE_FULL. Default unbounded. */
  maxQueueSize?: number;
  /** A waiting request gains one priority level per this many milliseconds (no starvation); default 100. 0: strict. */
  priorityAgingMs?: number;
  /**
   * Consecutive device errors (CUDA error, out of memory) after which an engine is taken out
   * of rotation; default 3. 0: never.
   */
  unhealthyAfter?: number;
  /**
   * Process-wide: the quantized (INT8) kernels libtorch runs quantized models with, one of
   * `buildInfo().quantizedEngines` (Debian's libtorch 1.13: `'qnnpack'`, `'onednn'`; the Python
   * wheels also `'x86'`, `'fbgemm'`). A model's packed weights are prepared for the engine in use
   * when it loads, so run a model with the engine it was quantized for to get PyTorch's results
   * exactly. Left as libtorch has it unless given; the first pool of the process that names it
   * applies it (like `cudnnBenchmark`).
   */
  quantizedEngine?: string;
}

/** `extensions` and `TORCHPOOL_EXTENSIONS`, checked; absolute paths, in order, each once. */
function planExtensions(value: unknown): string[] {
  if (value !== undefined && (!Array.isArray(value) || value.some((p) => typeof p !== 'string' || p.length === 0))) {
    throw invalidArg('options.extensions', 'an array of library paths', value);
  }
  const fromEnv = (process.env.TORCHPOOL_EXTENSIONS ?? '').split(':').filter((p) => p.length > 0);
  return [...new Set([...fromEnv, ...((value as string[] | undefined) ?? [])].map((p) => path.resolve(p)))];
}

/** `quantizedEngine`: one of the engines this libtorch has. */
function checkQuantizedEngine(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const engines = nativeBinding().buildInfo().quantizedEngines;
  if (typeof value !== 'string' || !engines.includes(value)) {
    throw invalidArg('options.quantizedEngine', `one of this libtorch's quantized engines (${engines.map((e) => `'${e}'`).join(', ')})`, value);
  }
  return value;
}

function checkNonNegative(value: unknown, where: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw invalidArg(where, `a number between 0 and ${max}`, value);
  }
  return value;
}

/** Every key of {@link InferencePoolOptions}: an options object with any other key is refused. */
export const POOL_OPTION_KEYS: readonly string[] = [
  ...Object.keys({
    model: true, format: true, modelName: true, extensions: true, devices: true, instancesPerDevice: true,
    threadsPerEngine: true, optimize: true, batching: true, maxBatchSize: true, maxQueueDelayMicros: true,
    spinMicros: true, maxQueueSize: true, priorityAgingMs: true, unhealthyAfter: true, quantizedEngine: true,
  } satisfies Record<Exclude<keyof InferencePoolOptions, keyof ExecutionOptions>, true>),
  ...EXECUTION_OPTION_KEYS,
];

/** Checks every scheduling option and fills in the defaults. Throws ERR_TORCHPOOL_INVALID_ARG. */
export function planEngines(options: InferencePoolOptions): LoadPlan {
  checkKnownKeys(options, POOL_OPTION_KEYS, 'options');
  const instances = checkPositiveInteger(options.instancesPerDevice, 'options.instancesPerDevice', 64) ?? 1;
  const threads = checkPositiveInteger(options.threadsPerEngine, 'options.threadsPerEngine', 1024);
  const optimize = checkBoolean(options.optimize, 'options.optimize') ?? false;
  const batching = checkBoolean(options.batching, 'options.batching') ?? true;
  const maxBatchSize = checkPositiveInteger(options.maxBatchSize, 'options.maxBatchSize', 1 << 20) ?? 32;
  const maxQueueDelayMicros = checkNonNegative(options.maxQueueDelayMicros, 'options.maxQueueDelayMicros', 10_000_000) ?? 0;
  const spinMicros = checkNonNegative(options.spinMicros, 'options.spinMicros', 1_000_000) ?? 0;
  const priorityAgingMs = checkNonNegative(options.priorityAgingMs, 'options.priorityAgingMs', 3_600_000) ?? 100;
  let maxQueueSize = 0;
  if (options.maxQueueSize !== undefined && options.maxQueueSize !== Infinity) {
    maxQueueSize = checkPositiveInteger(options.maxQueueSize, 'options.maxQueueSize') ?? 0;
  }
  let unhealthyAfter = 3;
  if (options.unhealthyAfter !== undefined) {
    const value = options.unhealthyAfter;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 1_000_000) {
      throw invalidArg('options.unhealthyAfter', 'an integer between 0 and 1000000', value);
    }
    unhealthyAfter = value;
  }

  const format = options.format ?? 'auto';
  if (!['auto', 'torchscript', 'aoti'].includes(format as string)) throw invalidArg('options.format', "'auto', 'torchscript' or 'aoti'", format);
  if (options.modelName !== undefined && (typeof options.modelName !== 'string' || options.modelName.length === 0)) {
    throw invalidArg('options.modelName', 'the name of a model inside the package', options.modelName);
  }
  const extensions = planExtensions(options.extensions);
  const quantizedEngine = checkQuantizedEngine(options.quantizedEngine);

  const perDevice = resolveDevices(options.devices);
  const devices: string[] = [];
  const instanceOf: number[] = [];
  for (const device of perDevice) {
    for (let i = 0; i < instances; ++i) {
      devices.push(device);
      instanceOf.push(i);
    }
  }
  const cpuThreads = threads ?? defaultThreadsPerEngine(devices);
  const execution = planExecution(options, devices, batching ? maxBatchSize : 1);
  return {
    format,
    ...(options.modelName !== undefined ? { modelName: options.modelName } : {}),
    extensions,
    devices,
    instances: instanceOf,
    threads: devices.map((d) => (d === 'cpu' ? cpuThreads : 1)),
    optimize,
    unhealthyAfter,
    ...(quantizedEngine !== undefined ? { quantizedEngine } : {}),
    execution,
    ...(options.cudnnBenchmark !== undefined ? { cudnnBenchmark: options.cudnnBenchmark } : {}),
    ...(options.allowTF32 !== undefined ? { allowTF32: options.allowTF32 } : {}),
    scheduler: {
      maxBatchSize: batching ? maxBatchSize : 1,
      maxQueueDelayMicros: Math.round(maxQueueDelayMicros),
      spinMicros: Math.round(spinMicros),
      maxQueueSize,
      priorityAgingMs,
      // The batcher knows the buckets engines pad to: a batch just over one gives back its overflow.
      batchBuckets: execution.bucketsOnCpu || devices.some((d) => d !== 'cpu') ? execution.batchBuckets : [],
    },
  };
}
