/**
 * How engines run a forward: precision, layout, warmup and the CUDA engine's knobs (pipeline,
 * pinned staging, CUDA graphs). Checked here, before anything reaches native code.
 * @module
 */
import { invalidArg } from './errors.js';
import { type Dtype, isDtype } from './tensor.js';
import { checkBoolean, checkKnownKeys, checkOptionsObject, checkPositiveInteger, checkShape } from './validate.js';

/**
 * The precision of an engine's forward.
 * - `'fp32'`: the model as saved.
 * - `'fp16'` / `'bf16'`: weights cast once at load; float inputs cast on the device after the
 *   copy (send `float16` data to move half the bytes).
 * - `'autocast'`: CUDA autocast (fp16 where it is safe, fp32 elsewhere); CUDA engines only.
 */
export type Precision = 'fp32' | 'fp16' | 'bf16' | 'autocast';

/**
 * The dtype floating outputs come back in: `'float32'`, `'float16'`, or `'model'` (as the
 * forward returns them; bfloat16 becomes float32, which JavaScript can hold).
 */
export type OutputDtype = 'float32' | 'float16' | 'model';

/**
 * One input the engines run at load, so the first request pays no autotuning or capture: the
 * shape of forward's one tensor argument, or `inputs`, the shapes of several by name (a text
 * model's `x` and `mask`, say), from forward's first argument on.
 */
export type WarmupInput = WarmupTensor | { inputs: { readonly [name: string]: WarmupTensor } };

/** The shape (batch dimension included) and dtype of one warmup tensor. */
export interface WarmupTensor {
  shape: readonly number[];
  /** Default `'float32'`. */
  dtype?: Dtype;
}

/** One padded input of {@link ExecutionOptions.padding}. */
export interface PaddedInputOptions {
  /** The axis whose length may differ between requests (not 0: that is the batch). */
  axis: number;
  /** What the padding positions hold; default 0. */
  value?: number;
}

/** Execution options of {@link InferencePoolOptions}. */
export interface ExecutionOptions {
  /** Default `'fp32'`. */
  precision?: Precision;
  /**
   * Default `'float32'` when `precision` is reduced (fp16, bf16, autocast), so callers get
   * float32 whatever the engines compute in; `'model'` at fp32, so a model's own dtypes pass.
   */
  outputDtype?: OutputDtype;
  /** Lay 4-d weights and inputs out channels-last (NHWC): faster convolutions with fp16/bf16 on tensor cores. Default false. */
  channelsLast?: boolean;
  /**
   * Inputs each engine runs at load (three times: JIT optimisation, cuDNN autotuning, graph
   * capture), as forward's single tensor argument: for models whose forward takes one tensor.
   */
  warmup?: readonly WarmupInput[];
  /**
   * CUDA engines: batches in flight per engine; default 2, so the copy-in of the next batch
   * overlaps the forward of the current one. 1 turns the overlap off.
   */
  pipelineDepth?: number;
  /**
   * CUDA engines with dynamic batching: while the engine's previous batch is still on its GPU, a
   * partial batch keeps filling past `maxQueueDelayMicros` until the GPU is about to be free
   * (estimated from the batches it ran), instead of launching early only to queue behind; an
   * idle engine elsewhere in the pool ends the hold at once. Counted in
   * `stats().engines[i].heldBatches`. Default: on with `cudaGraphs` (bigger batches through the
   * graphs: 9.1k against 7.7k requests/s at 64 callers on an H200), off for eager forwards
   * (there it cost throughput and tail latency: 6.1k requests/s, p99 66 ms, against 8.1k and 10 ms).
   */
  fillWhileBusy?: boolean;
  /**
   * CUDA engines: page-locked host memory per engine for staging copies, in bytes; default
   * 256 MiB. When it runs out, copies go through pageable memory (counted in
   * `stats().engines[i].cuda.pinned.fallbacks`); 0 always does.
   */
  pinnedMemoryBytes?: number;
  /**
   * CUDA engines: capture the forward as a CUDA graph per input shape (after two eager runs)
   * and replay it. Helps small batches, where kernel launches dominate. The model must be
   * capturable: no host synchronisation in forward (`.item()`, data-dependent shapes); a failed
   * capture turns graphs off for that engine, with the reason in stats. Default false.
   */
  cudaGraphs?: boolean;
  /** CUDA engines: graphs captured per engine (distinct shapes); default 8, or enough for every bucket of every warmup shape. */
  maxCudaGraphs?: number;
  /**
   * The batch sizes (rows) a merged batch is padded up to: it runs as the smallest bucket that
   * holds it, and the padding rows are dropped from the outputs (only once the model was seen to
   * keep its rows; a model whose output is not per row is never padded). So an engine only ever
   * runs a few batch sizes, and `warmup` runs each of them at load: without buckets every new
   * batch size that dynamic batching forms is a first-time forward under load (TorchScript
   * re-specialises, cuDNN plans anew), about a second each for ResNet-50 on an H200. With
   * `cudaGraphs` a graph is captured per bucket.
   *
   * Default on CUDA engines: powers of two up to `maxBatchSize`, and `maxBatchSize` itself
   * (`[1, 2, 4, 8, 16, 32]`). CPU engines pad only when this is given (a new batch size costs
   * little there, padding rows cost compute). `[]`: no buckets, batches run at their own size.
   */
  batchBuckets?: readonly number[];
  /** The former name of {@link ExecutionOptions.batchBuckets}, still accepted. */
  graphBatchSizes?: readonly number[];
  /** How TorchScript's graph executor runs the model; see {@link TorchScriptOptions}. */
  torchscript?: TorchScriptOptions;
  /**
   * Batching requests of different lengths (text and sequence models): per input of forward, by
   * name, the one axis besides the batch axis whose size may differ between requests. Requests
   * that differ only there merge into one forward: each padded input is padded along its axis to
   * the longest in the batch (or the next of `paddingBuckets`) with `value` (default 0), and every
   * output whose size on a padded axis is that length is cut back to each request's own length;
   * other outputs are split by rows as usual. Inputs padded together (`x` and its `mask`) must
   * agree on their length. The model must ignore the padding (an attention mask does): that is
   * its side of the contract. E.g. `{ x: { axis: 1 }, mask: { axis: 1, value: 1 } }`.
   */
  padding?: { readonly [input: string]: PaddedInputOptions };
  /**
   * With `padding`: the lengths inputs are padded up to, e.g. `[16, 32, 64, 128, 256, 512]`, so a
   * GPU sees few shapes, each warmed at load (with `warmup`). A request longer than the largest
   * runs alone at its own length.
   */
  paddingBuckets?: readonly number[];
  /**
   * Process-wide `torch.backends.cudnn.benchmark`; left as libtorch has it when not given. The
   * first pool of the process that names it applies it; a later pool that asks otherwise leaves
   * it (changing it under running pools would change their numerics) and emits a
   * `TORCHPOOL_PROCESS_SETTING` warning. `stats().processSettings` shows what applies.
   */
  cudnnBenchmark?: boolean;
  /** Process-wide TF32 for cuBLAS matmuls and cuDNN convolutions; applied once per process like `cudnnBenchmark`. */
  allowTF32?: boolean;
}

/**
 * TorchScript's graph executor, as Triton's PyTorch backend exposes it (its
 * `DISABLE_OPTIMIZED_EXECUTION`, `ENABLE_JIT_PROFILING`, `ENABLE_TENSOR_FUSER`). By default
 * libtorch's own settings apply. The profiling executor specialises the model for the shapes it
 * sees and compiles fused kernels for them (on CUDA): each new input shape costs a profiling run
 * and a compile. Batch buckets with warmup keep the shapes few and warmed; these switches are for
 * models whose shapes cannot be bounded.
 */
export interface TorchScriptOptions {
  /**
   * The executor's optimisations (profiling, fusion, specialisation); libtorch's
   * `setGraphExecutorOptimize`, which is per thread: torchpool sets it on every engine thread of
   * this pool. Off: the model runs as scripted, with no first-time compile per shape, usually a
   * little slower once warm. Default true.
   */
  optimizedExecution?: boolean;
  /**
   * Process-wide: the profiling executor (`torch::jit::getProfilingMode()`). Off: the executor
   * optimises without profiling shapes. Left as libtorch has it (on) unless given; the first pool
   * of the process that names it applies it (like `cudnnBenchmark`).
   */
  profilingExecutor?: boolean;
  /** Process-wide: the tensor-expression fuser (`torch::jit::setTensorExprFuserEnabled`); applied once per process like `profilingExecutor`. */
  tensorExprFuser?: boolean;
}

/** What the native loader receives. */
export interface ExecutionPlan {
  precision: Precision;
  outputDtype: OutputDtype;
  channelsLast: boolean;
  pipelineDepth: number;
  fillWhileBusy: boolean;
  pinnedMemoryBytes: number;
  cudaGraphs: boolean;
  maxCudaGraphs: number;
  /** batchBuckets (or graphBatchSizes), checked, ascending; or the default. */
  batchBuckets: number[];
  /** Whether CPU engines pad to the buckets too (only when batchBuckets was given). */
  bucketsOnCpu: boolean;
  optimizedExecution: boolean;
  profilingExecutor?: boolean;
  tensorExprFuser?: boolean;
  warmup: ({ shape: number[]; dtype: Dtype } | { inputs: Record<string, { shape: number[]; dtype: Dtype }> })[];
  padding?: { inputs: Record<string, { axis: number; value: number }>; buckets: number[] };
}

/** Every key of {@link ExecutionOptions}: option objects are closed (checkKnownKeys). */
export const EXECUTION_OPTION_KEYS = Object.keys({
  precision: true, outputDtype: true, channelsLast: true, warmup: true, pipelineDepth: true, fillWhileBusy: true,
  pinnedMemoryBytes: true, cudaGraphs: true, maxCudaGraphs: true, batchBuckets: true, graphBatchSizes: true,
  torchscript: true, cudnnBenchmark: true, allowTF32: true, padding: true, paddingBuckets: true,
} satisfies Record<keyof ExecutionOptions, true>);

const TORCHSCRIPT_OPTION_KEYS = Object.keys({ optimizedExecution: true, profilingExecutor: true, tensorExprFuser: true } satisfies Record<keyof TorchScriptOptions, true>);

const PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'bf16', 'autocast'];
const OUTPUT_DTYPES: readonly OutputDtype[] = ['float32', 'float16', 'model'];

function checkOneOf<T extends string>(value: unknown, allowed: readonly T[], where: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw invalidArg(where, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}

function checkWarmupTensor(entry: unknown, where: string): { shape: number[]; dtype: Dtype } {
  if (typeof entry !== 'object' || entry === null) throw invalidArg(where, 'an object { shape, dtype? }', entry);
  checkKnownKeys(entry, ['shape', 'dtype'], where);
  const { shape, dtype } = entry as WarmupTensor;
  if (!Array.isArray(shape) || shape.length > 16) throw invalidArg(`${where}.shape`, 'an array of at most 16 dimensions', shape);
  const elements = checkShape(shape, `${where}.shape`);
  if (elements > 2 ** 31) throw invalidArg(`${where}.shape`, 'at most 2^31 elements', shape);
  if (dtype !== undefined && !isDtype(dtype)) throw invalidArg(`${where}.dtype`, 'a dtype such as float32', dtype);
  return { shape: [...shape], dtype: dtype ?? 'float32' };
}

function checkWarmup(value: unknown): ExecutionPlan['warmup'] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidArg('options.warmup', 'an array of { shape, dtype? } or { inputs }', value);
  return value.map((entry: unknown, i) => {
    const where = `options.warmup[${i}]`;
    if (typeof entry === 'object' && entry !== null && 'inputs' in entry) {
      checkKnownKeys(entry, ['inputs'], where);
      const inputs = (entry as { inputs: unknown }).inputs;
      if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs) || Object.keys(inputs).length === 0) {
        throw invalidArg(`${where}.inputs`, 'an object of { shape, dtype? } by input name', inputs);
      }
      return { inputs: Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, checkWarmupTensor(t, `${where}.inputs.${name}`)])) };
    }
    return checkWarmupTensor(entry, where);
  });
}

function checkPadding(options: ExecutionOptions): ExecutionPlan['padding'] {
  const { padding, paddingBuckets } = options;
  if (padding === undefined) {
    if (paddingBuckets !== undefined) throw invalidArg('options.paddingBuckets', 'options.padding as well (buckets are lengths of padded inputs)', paddingBuckets);
    return undefined;
  }
  if (typeof padding !== 'object' || padding === null || Array.isArray(padding) || Object.keys(padding).length === 0) {
    throw invalidArg('options.padding', 'an object { [input]: { axis, value? } }', padding);
  }
  const inputs: Record<string, { axis: number; value: number }> = {};
  for (const [name, entry] of Object.entries(padding)) {
    const where = `options.padding.${name}`;
    if (typeof entry !== 'object' || entry === null) throw invalidArg(where, 'an object { axis, value? }', entry);
    checkKnownKeys(entry, ['axis', 'value'], where);
    const { axis, value } = entry as PaddedInputOptions;
    if (typeof axis !== 'number' || !Number.isInteger(axis) || axis < 1 || axis > 15) throw invalidArg(`${where}.axis`, 'an integer between 1 and 15 (0 is the batch axis)', axis);
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) throw invalidArg(`${where}.value`, 'a finite number', value);
    inputs[name] = { axis, value: value ?? 0 };
  }
  let buckets: number[] = [];
  if (paddingBuckets !== undefined) {
    if (!Array.isArray(paddingBuckets) || paddingBuckets.length === 0 || paddingBuckets.some((b: unknown) => typeof b !== 'number' || !Number.isSafeInteger(b) || b < 1)) {
      throw invalidArg('options.paddingBuckets', 'a non-empty array of positive lengths', paddingBuckets);
    }
    buckets = [...new Set(paddingBuckets as number[])].sort((a, b) => a - b);
  }
  return { inputs, buckets };
}

/** The batch buckets: checked, ascending, or the default powers of two up to maxBatchSize. */
function planBuckets(options: ExecutionOptions, maxBatchSize: number): { buckets: number[]; given: boolean } {
  const { batchBuckets, graphBatchSizes } = options;
  const check = (value: unknown, where: string): number[] => {
    if (!Array.isArray(value) || value.some((b: unknown) => typeof b !== 'number' || !Number.isSafeInteger(b) || b < 1 || b > maxBatchSize)) {
      throw invalidArg(where, `an array of batch sizes between 1 and maxBatchSize (${maxBatchSize})`, value);
    }
    return [...new Set(value as number[])].sort((a, b) => a - b);
  };
  const named = batchBuckets !== undefined ? check(batchBuckets, 'options.batchBuckets') : undefined;
  const old = graphBatchSizes !== undefined ? check(graphBatchSizes, 'options.graphBatchSizes') : undefined;
  if (named && old && named.join() !== old.join()) {
    throw invalidArg('options.graphBatchSizes', `the same buckets as options.batchBuckets (its former name), or only one of them`, graphBatchSizes);
  }
  const given = named ?? old;
  if (given) return { buckets: maxBatchSize <= 1 ? [] : given, given: true };
  if (maxBatchSize <= 1) return { buckets: [], given: false };
  const buckets: number[] = [];
  for (let b = 1; b < maxBatchSize; b *= 2) buckets.push(b);
  buckets.push(maxBatchSize);
  return { buckets, given: false };
}

function planTorchScript(value: unknown): Pick<ExecutionPlan, 'optimizedExecution' | 'profilingExecutor' | 'tensorExprFuser'> {
  const options = checkOptionsObject(value as TorchScriptOptions | undefined, 'options.torchscript');
  checkKnownKeys(options, TORCHSCRIPT_OPTION_KEYS, 'options.torchscript');
  const profilingExecutor = checkBoolean(options.profilingExecutor, 'options.torchscript.profilingExecutor');
  const tensorExprFuser = checkBoolean(options.tensorExprFuser, 'options.torchscript.tensorExprFuser');
  return {
    optimizedExecution: checkBoolean(options.optimizedExecution, 'options.torchscript.optimizedExecution') ?? true,
    ...(profilingExecutor !== undefined ? { profilingExecutor } : {}),
    ...(tensorExprFuser !== undefined ? { tensorExprFuser } : {}),
  };
}

/** Checks the execution options for `devices` and fills in the defaults. Throws ERR_TORCHPOOL_INVALID_ARG. */
export function planExecution(options: ExecutionOptions, devices: readonly string[], maxBatchSize = 1): ExecutionPlan {
  const precision = checkOneOf(options.precision, PRECISIONS, 'options.precision') ?? 'fp32';
  if (precision === 'autocast' && devices.some((d) => d === 'cpu')) {
    throw invalidArg('options.precision', "'fp32', 'fp16' or 'bf16' on CPU engines ('autocast' is CUDA autocast)", precision);
  }
  let pinnedMemoryBytes = 256 * 2 ** 20;
  if (options.pinnedMemoryBytes !== undefined) {
    const value = options.pinnedMemoryBytes;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > 2 ** 40) {
      throw invalidArg('options.pinnedMemoryBytes', 'an integer number of bytes between 0 and 2^40', value);
    }
    pinnedMemoryBytes = value;
  }
  checkBoolean(options.cudnnBenchmark, 'options.cudnnBenchmark');
  checkBoolean(options.allowTF32, 'options.allowTF32');
  const cudaGraphs = checkBoolean(options.cudaGraphs, 'options.cudaGraphs') ?? false;
  if (cudaGraphs && !devices.some((d) => d.startsWith('cuda'))) {
    throw invalidArg('options.cudaGraphs', "CUDA engines (CUDA graphs need a GPU; this pool has only CPU engines, which run eagerly: leave cudaGraphs off)", cudaGraphs);
  }
  const { buckets, given } = planBuckets(options, maxBatchSize);
  const warmup = checkWarmup(options.warmup);
  const padding = checkPadding(options);
  // Enough graphs for every bucket (and length bucket) of every warmup shape, unless the user set a limit.
  const defaultGraphs = Math.min(256, Math.max(8, (buckets.length + 1) * Math.max(1, padding?.buckets.length ?? 1) * Math.max(1, warmup.length)));
  return {
    precision,
    outputDtype: checkOneOf(options.outputDtype, OUTPUT_DTYPES, 'options.outputDtype') ?? (precision === 'fp32' ? 'model' : 'float32'),
    channelsLast: checkBoolean(options.channelsLast, 'options.channelsLast') ?? false,
    pipelineDepth: checkPositiveInteger(options.pipelineDepth, 'options.pipelineDepth', 8) ?? 2,
    fillWhileBusy: checkBoolean(options.fillWhileBusy, 'options.fillWhileBusy') ?? cudaGraphs,
    pinnedMemoryBytes,
    cudaGraphs,
    maxCudaGraphs: checkPositiveInteger(options.maxCudaGraphs, 'options.maxCudaGraphs', 256) ?? defaultGraphs,
    batchBuckets: buckets,
    bucketsOnCpu: given,
    ...planTorchScript(options.torchscript),
    warmup,
    ...(padding ? { padding } : {}),
  };
}
