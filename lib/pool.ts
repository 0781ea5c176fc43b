/**
 * InferencePool: model replicas on every device, native threads, one shared queue, promises.
 * Data flow: infer() -> validate -> promise and ticket (settle.ts) -> the turn's submissions
 * (submissions.ts) -> native Requests -> scheduler (work-stealing lanes, batching) -> engine
 * thread -> forward -> completion queue -> a batch of results -> promises settled (settle.ts).
 * @module
 */
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { threadId } from 'node:worker_threads';
import { type NativePool, type NativeSignature, nativeBinding } from './binding.js';
import { concatRows, type MapOptions, mapOrdered, type MapResult, splitRows } from './batch-jobs.js';
import { ErrorCodes, invalidArg, TorchpoolError } from './errors.js';
import { type EngineUnhealthyEvent, type InferencePoolEvents, publish } from './events.js';
import { type InferencePoolOptions, type LoadPlan, planEngines } from './options.js';
import { abortedError, checkInferOptions, controlled, INFER_OPTION_KEYS, type InferOptions, NO_CONTROL, type RequestControl } from './request-control.js';
import type { PoolStats } from './stats.js';
import { StatsTracker } from './stats-tracker.js';
import { OutputLayouts } from './output-targets.js';
import { checkProfileOptions, type ProfileOptions, type ProfileResult, recordProfile } from './profile.js';
import { allocPinnedTensor, type PinnedTensor } from './pinned-input.js';
import { PendingRequests } from './settle.js';
import { SubmissionQueue } from './submissions.js';
import type { Dtype, InferInputs, InferOutput, Tensor } from './tensor.js';
import { checkBoolean, checkKnownKeys, checkOptionsObject, checkPositiveInteger, normalizeInputs } from './validate.js';

/**
 * The model's forward() as TorchScript describes it. For an AOTInductor package: positional
 * tensors `input_0`, `input_1`, ... (a package has no argument names) and what its metadata says.
 */
export interface ModelSignature {
  inputs: { name: string; type: string; optional: boolean }[];
  output: string;
  /** AOTInductor packages: the package's metadata (e.g. `AOTI_DEVICE_KEY`); empty for TorchScript. */
  metadata: Record<string, string>;
  /** The model runs libtorch's quantized (INT8) operators, which run on CPU engines only. */
  quantized: boolean;
}

/** Options of {@link InferencePool.close}. */
export interface CloseOptions {
  /** Run every queued request before stopping instead of rejecting them with CLOSED. Default false. */
  drain?: boolean;
}

/** Options of {@link InferencePool.inferBatch}. */
export interface InferBatchOptions extends InferOptions {
  /** Rows per chunk; default: the rows divided evenly over the healthy engines. */
  chunkSize?: number;
}

/**
 * What {@link InferencePool.share} returns: plain data to post to a worker_thread
 * (`postMessage`, `workerData`) and hand to {@link InferencePool.attach} there. It is valid in
 * this process only, until the owner pool closes.
 */
export interface SharedPoolToken {
  readonly kind: 'torchpool.SharedPool';
  /** Identifies the pool's engines in this process. */
  readonly id: number;
  /** The process the pool lives in: a token cannot cross processes. */
  readonly pid: number;
  /** The settings attached pools report and size map() by. */
  readonly plan: { readonly devices: readonly string[]; readonly scheduler: LoadPlan['scheduler'] };
}

const INFER_BATCH_OPTION_KEYS = [...INFER_OPTION_KEYS.filter((k) => k !== 'output'), 'chunkSize'];
const MAP_OPTION_KEYS = Object.keys({ concurrency: true, onProgress: true, signal: true, priority: true, timeoutMs: true } satisfies Record<keyof MapOptions, true>);

const asyncDispose: typeof Symbol.asyncDispose =
  Symbol.asyncDispose ?? (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose);

/**
 * A pool of model replicas (engines) on every device, fed from one shared work-stealing queue
 * with dynamic batching. Emits `engineUnhealthy` and `queueFull` (see {@link InferencePoolEvents}).
 *
 * ```ts
 * const pool = await InferencePool.create({ model: 'model.pt' });
 * const out = await pool.infer({ data: new Float32Array(256), shape: [1, 256] });
 * await pool.close();
 * ```
 */
export class InferencePool extends EventEmitter<InferencePoolEvents> {
  readonly #native: NativePool;
  readonly #plan: SharedPoolToken['plan'];
  readonly #owner: boolean;
  readonly #signature: NativeSignature;
  readonly #stats = new StatsTracker();
  readonly #outputLayouts = new OutputLayouts();
  readonly #pending: PendingRequests;
  readonly #submissions: SubmissionQueue;
  // Cancels a request of this thread that is still queued (abort, timeout): submitted first,
  // since one made in this turn of the event loop may not have reached native code yet.
  readonly #cancel = (id: number, code: 'ABORTED' | 'TIMEOUT'): void => {
    this.#submissions.flush();
    this.#native.cancel(id, code);
  };
  #nextId = 0;
  #loadMs: number | undefined;
  #healthyEngines: number;
  #closing: Promise<void> | undefined;

  private constructor(native: NativePool, pending: PendingRequests, plan: SharedPoolToken['plan'], owner: boolean, healthyEngines: number) {
    super();
    this.#native = native;
    this.#pending = pending;
    this.#submissions = new SubmissionQueue(native, (ticket, error) => {
      if (error instanceof TorchpoolError && error.code === ErrorCodes.QUEUE_FULL) {
        const { maxQueueSize } = this.#plan.scheduler;
        this.#emitLater('queueFull', { queueDepth: maxQueueSize, maxQueueSize });
      }
      pending.reject(ticket, error);
    });
    this.#plan = plan;
    this.#owner = owner;
    this.#healthyEngines = healthyEngines;
    this.#signature = native.signature();
  }

  /**
   * Loads one replica of the model per engine (devices x instancesPerDevice), off the JS
   * thread, and starts an engine thread for each. Rejects with ERR_TORCHPOOL_MODEL_LOAD for a
   * missing, unreadable, truncated or non-TorchScript model, ERR_TORCHPOOL_NO_DEVICE for a
   * device that is not there, and ERR_TORCHPOOL_INVALID_ARG for malformed options.
   */
  static async create(options: InferencePoolOptions): Promise<InferencePool> {
    if (typeof options !== 'object' || options === null) throw invalidArg('options', 'an object', options);
    const { model } = options;
    let nativeModel: string | Buffer;
    if (typeof model === 'string') {
      if (model.length === 0) throw invalidArg('options.model', 'a file path or the bytes of a TorchScript model or AOTInductor package', model);
      nativeModel = model;
    } else if (model instanceof Uint8Array) {
      // A detached buffer reads as empty: the native loader reports an empty model.
      nativeModel = Buffer.isBuffer(model) ? model : model.byteLength === 0 ? Buffer.alloc(0) : Buffer.from(model.buffer, model.byteOffset, model.byteLength);
    } else {
      throw invalidArg('options.model', 'a file path or the bytes of a TorchScript model or AOTInductor package', model);
    }
    const plan = planEngines(options);
    const started = performance.now();
    const { native, holder, pending } = InferencePool.#newNative();
    const { warnings } = await native.load({ model: nativeModel, ...plan });
    for (const warning of warnings) process.emitWarning(`torchpool: ${warning}`, { code: 'TORCHPOOL_PROCESS_SETTING' });
    holder.pool = new InferencePool(native, pending, { devices: plan.devices, scheduler: plan.scheduler }, true, plan.devices.length);
    holder.pool.#loadMs = performance.now() - started;
    return holder.pool;
  }

  /**
   * Uses, from this thread, the engines of a pool that another thread of this process created
   * and shared ({@link InferencePool.share}). The returned pool has the same infer / inferBatch
   * / map / stats API; its requests join the one shared queue (and merge into the same batches
   * as every other thread's) and its promises settle on this thread. Rejects with
   * ERR_TORCHPOOL_CLOSED when the owner has closed (or its thread has exited), and
   * ERR_TORCHPOOL_INVALID_ARG for something that is not a token of this process.
   *
   * ```ts
   * // worker.mjs
   * const pool = await InferencePool.attach(workerData.token);
   * ```
   */
  static async attach(token: SharedPoolToken): Promise<InferencePool> {
    const shape = 'a token from pool.share() ({ kind: "torchpool.SharedPool", id, pid, plan })';
    if (typeof token !== 'object' || token === null || token.kind !== 'torchpool.SharedPool') throw invalidArg('token', shape, token);
    const { id, pid, plan } = token;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw invalidArg('token.id', 'a positive integer', id);
    if (typeof plan !== 'object' || plan === null || !Array.isArray(plan.devices) || typeof plan.scheduler !== 'object' || plan.scheduler === null) {
      throw invalidArg('token.plan', shape, plan);
    }
    if (pid !== process.pid) {
      throw new TorchpoolError(
        ErrorCodes.INVALID_ARG,
        `the token belongs to process ${String(pid)}, not this one (${process.pid}): a shared pool can only be attached from worker_threads of the process that created it`,
      );
    }
    const { native, holder, pending } = InferencePool.#newNative();
    native.attach(id);
    const healthy = native.stats().engines.filter((e) => e.healthy).length;
    holder.pool = new InferencePool(native, pending, { devices: [...plan.devices], scheduler: { ...plan.scheduler } }, false, healthy);
    return holder.pool;
  }

  /**
   * A native pool for this thread, with its completion wake-up and the promises of its requests;
   * `holder.pool` is set once the JS pool exists.
   */
  static #newNative(): { native: NativePool; holder: { pool?: InferencePool }; pending: PendingRequests } {
    // Native events arrive before the pool object exists only in theory (no request has run);
    // the holder lets the handler find the pool once it does.
    const holder: { pool?: InferencePool } = {};
    const pending = new PendingRequests();
    // Completions settle at once when engines wake the JS thread. But Node's thread-safe-function
    // dispatch calls back again and again (up to 1000 times in one go) while fast engines keep
    // finishing, and timers would wait all that time: after 2 ms of back-to-back wake-ups, the
    // next drain waits for setImmediate so timers and I/O get their turn.
    let runStart = -1;
    let lastWake = 0;
    let deferred = false;
    const drainDeferred = (): void => {
      deferred = false;
      runStart = -1;
      native.drain();
    };
    const native: NativePool = new (nativeBinding().NativePool)(
      (name, details) => {
        if (!holder.pool) return;
        holder.pool.#healthyEngines--;
        holder.pool.#emitLater(name, details);
      },
      () => {
        if (deferred) return;
        const now = performance.now();
        if (runStart < 0 || now - lastWake > 1) runStart = now;
        lastWake = now;
        if (now - runStart < 2) return native.drain();
        deferred = true;
        setImmediate(drainDeferred);
      },
      threadId,
      (slab, values) => {
        // Several callers resumed: their next requests go to the engines together.
        if (pending.settle(slab, values) > 1 && holder.pool) holder.pool.#submissions.holdTurn();
      },
    );
    return { native, holder, pending };
  }

  /**
   * A token with which other worker_threads of this process use this pool's engines
   * ({@link InferencePool.attach}): one set of model replicas, one queue, batches that mix
   * requests from every thread. Post it to a worker (`postMessage`, `workerData`).
   *
   * The engines belong to the pool that created them (the owner): its close(), or the end of its
   * thread, closes them for every thread, and attached pools' queued requests reject with
   * CLOSED. A shared owner is not garbage collected before close(). An attached pool's close()
   * only detaches its own thread. Calling share() again returns the same token.
   */
  share(): SharedPoolToken {
    if (this.#closing) throw new TorchpoolError(ErrorCodes.CLOSED, 'the pool is closed');
    const id = this.#native.share();
    return { kind: 'torchpool.SharedPool', id, pid: process.pid, plan: { devices: [...this.#plan.devices], scheduler: { ...this.#plan.scheduler } } };
  }

  /** True for the pool that created the engines; false for one attached from another thread. */
  get owner(): boolean {
    return this.#owner;
  }

  /** The device of each engine, e.g. `['cuda:0', 'cuda:1']` (repeated per instance). */
  get devices(): readonly string[] {
    return this.#plan.devices;
  }

  /** The model's forward() arguments and return type. */
  get signature(): ModelSignature {
    return { inputs: this.#signature.inputs.map((i) => ({ ...i })), output: this.#signature.output, metadata: { ...this.#signature.metadata }, quantized: this.#signature.quantized };
  }

  /** What kind of model runs: `'torchscript'` or `'aoti'` (an AOTInductor package). */
  get format(): 'torchscript' | 'aoti' {
    return this.#signature.format;
  }

  /** Whether close() has been called, or (attached pools) the owner closed the engines. */
  get closed(): boolean {
    if (this.#closing !== undefined) return true;
    return !this.#owner && this.#native.closed();
  }

  /**
   * Runs the model's forward on the next free engine (possibly merged with other requests into
   * one batch) and resolves with what it returned. `inputs` is one tensor, an array of
   * positional arguments or a record of named arguments. Every failure is a rejection of this
   * promise only: INVALID_ARG (bad input), FORWARD (the model raised), QUEUE_FULL, TIMEOUT,
   * ABORTED, NO_DEVICE, CLOSED, CUDA, OUT_OF_MEMORY. The pool keeps serving.
   * The type parameter is a convenience for callers who know what their model returns.
   */
  infer<T = InferOutput>(inputs: InferInputs, options?: InferOptions): Promise<T> {
    try {
      return this.#submit(inputs, options === undefined ? NO_CONTROL : checkInferOptions(options)) as Promise<T>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Data parallelism for one large batch: cuts the inputs along dim 0 into chunks, runs the
   * chunks on all engines at once and concatenates the outputs in order. The result equals one
   * forward over the whole batch (up to floating-point summation order in the model).
   * Tensor inputs must share dim 0; other arguments go to every chunk.
   */
  async inferBatch<T = InferOutput>(inputs: InferInputs, options?: InferBatchOptions): Promise<T> {
    options = checkOptionsObject(options);
    const chunkSize = checkPositiveInteger(options.chunkSize, 'options.chunkSize');
    const control = { ...checkInferOptions(options, INFER_BATCH_OPTION_KEYS), batchable: false, output: undefined };
    const { chunks, rows } = splitRows(inputs, chunkSize, this.#healthyEngines);
    const outputs = await Promise.all(chunks.map((chunk) => this.#submit(chunk, control)));
    return concatRows(outputs, rows) as T;
  }

  /**
   * Runs a large job (an array, iterable or async iterable of inputs) through the shared queue
   * with at most `concurrency` items in flight, yielding `{ index, output }` or
   * `{ index, error }` per item in input order. A failing item does not stop the job.
   *
   * ```ts
   * for await (const { index, output, error } of pool.map(images, { concurrency: 64 })) { ... }
   * ```
   */
  map<T = InferOutput>(
    items: Iterable<InferInputs> | AsyncIterable<InferInputs>,
    options?: MapOptions,
  ): AsyncGenerator<MapResult<T>, void, undefined> {
    options = checkOptionsObject(options);
    checkKnownKeys(options, MAP_OPTION_KEYS, 'options');
    if (items === null || typeof items !== 'object' || !(Symbol.iterator in items || Symbol.asyncIterator in items)) {
      throw invalidArg('items', 'an iterable or async iterable of inputs', items);
    }
    const engines = this.#plan.devices.length;
    const concurrency =
      checkPositiveInteger(options.concurrency, 'options.concurrency') ??
      Math.min(256, 2 * engines * this.#plan.scheduler.maxBatchSize);
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
      throw invalidArg('options.onProgress', 'a function', options.onProgress);
    }
    const { priority, timeoutMs } = checkInferOptions({ priority: options.priority, timeoutMs: options.timeoutMs, signal: options.signal });
    return mapOrdered<T>(
      items,
      concurrency,
      (inputs, signal) => this.infer(inputs, { signal, priority, ...(timeoutMs > 0 ? { timeoutMs } : {}) }),
      options.onProgress,
      options.signal,
    );
  }

  /**
   * A zero-filled input tensor whose data lives in page-locked host memory, so that infer() of it
   * on a CUDA engine copies it to the device directly, skipping the copy into the engine's staging
   * memory (`stats().engines[i].cuda.pinned.directBytes` counts those bytes). Fill `data`, pass
   * the tensor (or several) to infer(), and reuse it: allocating page-locked memory is slow.
   *
   * Ownership: the memory belongs to `data`'s ArrayBuffer and is freed when that is garbage
   * collected; it stays valid after the pool closes. Do not write to it while a request that
   * reads it is in flight (the device copies from it then). On a pool without a CUDA engine the
   * tensor is ordinary memory (`pinned: false`, `reason` says why) and works all the same.
   * Throws INVALID_ARG for a bad shape or dtype, CLOSED on a closed pool.
   */
  allocInput<D extends Dtype = 'float32'>(shape: readonly number[], dtype?: D): PinnedTensor<D> {
    if (this.closed) throw new TorchpoolError(ErrorCodes.CLOSED, 'the pool is closed');
    const cuda = this.#plan.devices.find((d) => d.startsWith('cuda'));
    const device = cuda === undefined ? undefined : Number(cuda.split(':')[1] ?? 0);
    return allocPinnedTensor(shape, (dtype ?? 'float32') as D, device, 'the pool has no CUDA engine, so page-locked memory would not help');
  }

  /** Counters per engine and for the pool, with latency percentiles over recent requests. */
  stats(): PoolStats {
    const { maxBatchSize, maxQueueDelayMicros } = this.#plan.scheduler;
    this.#submissions.flush();
    const raw = this.#native.stats();
    return this.#stats.snapshot(raw, { maxBatchSize, maxQueueDelayMicros }, this.#closing !== undefined || raw.closed, this.#loadMs);
  }

  /**
   * Stops the pool: infer() rejects with CLOSED from now on; queued requests reject with
   * CLOSED (or, with `{ drain: true }`, run first); running forwards finish and resolve; engine
   * threads are joined and the replicas freed. Idempotent; a later close() without drain during
   * a drain rejects what is still queued.
   *
   * On the owner of a shared pool this closes the engines for every thread (attached pools'
   * queued requests reject with CLOSED on their own threads). On an attached pool it only ends
   * this thread's use: its queued requests reject (or run, with drain), the promise resolves
   * once its running ones settled, and the engines keep serving the other threads.
   */
  close(options?: CloseOptions): Promise<void> {
    const checked = checkOptionsObject(options);
    checkKnownKeys(checked, ['drain'], 'options');
    const drain = checkBoolean(checked.drain, 'options.drain') ?? false;
    // Requests made before close() was called count as made before it.
    this.#submissions.flush();
    if (this.#closing) {
      if (!drain) this.#native.close(false);
      return this.#closing;
    }
    this.#closing = this.#native.close(drain) as Promise<void>;
    return this.#closing;
  }

  /**
   * Records what the pool's engines run, operator by operator, for `durationMs` (default 2000) or
   * until `requests` more requests were completed, while the pool keeps serving, and writes a
   * Chrome trace (`traceEvents` JSON: open it in Perfetto or chrome://tracing) to `path` (default:
   * a new file in the OS's temporary folder). Resolves with the trace's path and a table of every
   * operator by self time, slowest first. A second profile() while one records rejects with
   * ERR_TORCHPOOL_BUSY.
   *
   * ```ts
   * const { tracePath, ops } = await pool.profile({ requests: 500 });
   * console.table(ops.slice(0, 10));
   * ```
   */
  async profile(options?: ProfileOptions): Promise<ProfileResult> {
    const checked = checkProfileOptions(options);
    if (this.closed) throw new TorchpoolError(ErrorCodes.CLOSED, 'the pool is closed');
    return recordProfile(this.#native, checked, () => this.#native.stats().completed);
  }

  /** `await using pool = await InferencePool.create(...)` closes the pool at scope exit. */
  [asyncDispose](): Promise<void> {
    return this.close();
  }

  #submit(inputs: InferInputs, control: RequestControl): Promise<InferOutput> {
    if (this.#closing) throw new TorchpoolError(ErrorCodes.CLOSED, 'the pool is closed');
    const { signal, timeoutMs, output } = control;
    if (signal?.aborted) throw abortedError(signal);
    const normalized = normalizeInputs(inputs);
    const { args, kwargs } = normalized;
    if (output !== undefined) this.#outputLayouts.check(normalized, output);
    const cancellable = signal !== undefined || timeoutMs > 0;
    const id = cancellable ? ++this.#nextId : 0;
    // The table holds the inputs until the request settles: engines read their arrays in place.
    const { ticket, promise } = this.#pending.add<unknown>(normalized);
    const lone = kwargs === null && args.length === 1 && args[0] === inputs ? (inputs as Tensor) : undefined;
    this.#submissions.add(normalized, lone, ticket, id, control);
    let pending = promise;
    if (output !== undefined) pending = pending.then((result) => { this.#outputLayouts.learn(normalized, output, result as InferOutput); return result; });
    return (cancellable ? controlled(this.#cancel, id, pending, control) : pending) as Promise<InferOutput>;
  }

  // Listeners run in a microtask: a throwing listener must not unwind native code or infer().
  #emitLater<E extends keyof InferencePoolEvents>(event: E, details: InferencePoolEvents[E][0]): void {
    queueMicrotask(() => {
      publish(event, this, details);
      (this.emit as (e: E, d: InferencePoolEvents[E][0]) => boolean)(event, details);
    });
  }
}

export type { EngineUnhealthyEvent };
