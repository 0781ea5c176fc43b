/**
 * InferencePool: one model replica per device, a native thread per replica, promises in JS.
 * Data flow: infer() -> validate -> native Request -> shared queue -> engine thread -> forward
 * -> completion queue -> promise settled on the JS thread.
 * @module
 */
import { Buffer } from 'node:buffer';
import { type NativePool, type NativeSignature, nativeBinding } from './binding.js';
import { defaultThreadsPerEngine, type DeviceSelection, resolveDevices } from './devices.js';
import { ErrorCodes, invalidArg, TorchpoolError } from './errors.js';
import type { InferInputs, InferOutput } from './tensor.js';
import { checkBoolean, checkPositiveInteger, normalizeInputs } from './validate.js';

/** Options of {@link InferencePool.create}. */
export interface InferencePoolOptions {
  /** A TorchScript file (`torch.jit.save`) or its bytes. */
  model: string | Uint8Array;
  /** Where engines run; default `'all'` (every GPU, or the CPU when there is none). */
  devices?: DeviceSelection;
  /**
   * Intra-op threads of each CPU engine. Default: the machine's cores divided by the number of
   * CPU engines (at least 1), so engines do not fight over cores.
   */
  threadsPerEngine?: number;
  /**
   * Freeze the model and apply `torch.jit.optimize_for_inference` at load. Usually faster on
   * CPU; off by default because freezing changes nothing semantically but can fail for models
   * that mutate their attributes (those are then run unfrozen).
   */
  optimize?: boolean;
}

/** The model's forward() as TorchScript describes it. */
export interface ModelSignature {
  inputs: { name: string; type: string; optional: boolean }[];
  output: string;
}

/** Counters of one engine (one model replica and its thread). */
export interface EngineStats {
  index: number;
  device: string;
  threads: number;
  requests: number;
  failures: number;
  busyMs: number;
  /** busyMs divided by the pool's uptime, 0..1. */
  utilization: number;
  busy: boolean;
}

/** A snapshot of a pool; cheap enough to take every second. */
export interface PoolStats {
  engines: EngineStats[];
  queueDepth: number;
  inFlight: number;
  completed: number;
  uptimeMs: number;
  closed: boolean;
}

const asyncDispose: typeof Symbol.asyncDispose =
  Symbol.asyncDispose ?? (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose);

/**
 * A pool of model replicas, one engine per device, fed from one shared queue.
 *
 * ```ts
 * const pool = await InferencePool.create({ model: 'model.pt' });
 * const out = await pool.infer({ data: new Float32Array(256), shape: [1, 256] });
 * await pool.close();
 * ```
 */
export class InferencePool {
  readonly #native: NativePool;
  readonly #devices: readonly string[];
  readonly #signature: NativeSignature;
  readonly #createdAt: number;
  #closing: Promise<void> | undefined;

  private constructor(native: NativePool, devices: readonly string[]) {
    this.#native = native;
    this.#devices = Object.freeze([...devices]);
    this.#signature = native.signature();
    this.#createdAt = performance.now();
  }

  /**
   * Loads one replica of the model per device, off the JS thread, and starts an engine thread
   * for each. Rejects with ERR_TORCHPOOL_MODEL_LOAD for a missing, unreadable, truncated or
   * non-TorchScript model, ERR_TORCHPOOL_NO_DEVICE for a device that is not there, and
   * ERR_TORCHPOOL_INVALID_ARG for malformed options.
   */
  static async create(options: InferencePoolOptions): Promise<InferencePool> {
    if (typeof options !== 'object' || options === null) throw invalidArg('options', 'an object', options);
    const { model } = options;
    let nativeModel: string | Buffer;
    if (typeof model === 'string') {
      if (model.length === 0) throw invalidArg('options.model', 'a file path or the bytes of a TorchScript model', model);
      nativeModel = model;
    } else if (model instanceof Uint8Array) {
      nativeModel = Buffer.isBuffer(model) ? model : Buffer.from(model.buffer, model.byteOffset, model.byteLength);
    } else {
      throw invalidArg('options.model', 'a file path or the bytes of a TorchScript model', model);
    }
    const threads = checkPositiveInteger(options.threadsPerEngine, 'options.threadsPerEngine', 1024);
    const optimize = checkBoolean(options.optimize, 'options.optimize') ?? false;
    const devices = resolveDevices(options.devices);
    const cpuThreads = threads ?? defaultThreadsPerEngine(devices);

    const native = new (nativeBinding().NativePool)();
    await native.load({
      model: nativeModel,
      devices,
      threads: devices.map((d) => (d === 'cpu' ? cpuThreads : 1)),
      optimize,
    });
    return new InferencePool(native, devices);
  }

  /** The device of each engine, e.g. `['cuda:0', 'cuda:1']`. */
  get devices(): readonly string[] {
    return this.#devices;
  }

  /** The model's forward() arguments and return type. */
  get signature(): ModelSignature {
    return { inputs: this.#signature.inputs.map((i) => ({ ...i })), output: this.#signature.output };
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Runs the model's forward on the next free engine and resolves with what it returned.
   * `inputs` is one tensor, an array of positional arguments or a record of named arguments.
   * Bad input rejects at once with ERR_TORCHPOOL_INVALID_ARG; a forward that raises rejects
   * with ERR_TORCHPOOL_FORWARD. Either way only this promise fails; the pool keeps serving.
   * The type parameter is a convenience for callers who know what their model returns.
   */
  infer<T = InferOutput>(inputs: InferInputs): Promise<T> {
    if (this.#closing) return Promise.reject(closedError());
    try {
      const { args, kwargs } = normalizeInputs(inputs);
      return this.#native.infer(args, kwargs) as Promise<T>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Counters per engine and for the pool. */
  stats(): PoolStats {
    const raw = this.#native.stats();
    const uptimeMs = performance.now() - this.#createdAt;
    return {
      engines: raw.engines.map((e) => ({ ...e, utilization: uptimeMs > 0 ? Math.min(1, e.busyMs / uptimeMs) : 0 })),
      queueDepth: raw.queueDepth,
      inFlight: raw.inFlight,
      completed: raw.completed,
      uptimeMs,
      closed: this.closed,
    };
  }

  /**
   * Stops the pool: queued requests reject with ERR_TORCHPOOL_CLOSED, running forwards finish
   * and resolve, engine threads are joined and the replicas freed. Idempotent; later calls to
   * infer() reject with ERR_TORCHPOOL_CLOSED.
   */
  close(): Promise<void> {
    this.#closing ??= this.#native.close();
    return this.#closing;
  }

  /** `await using pool = await InferencePool.create(...)` closes the pool at scope exit. */
  [asyncDispose](): Promise<void> {
    return this.close();
  }
}

function closedError(): TorchpoolError {
  return new TorchpoolError(ErrorCodes.CLOSED, 'the pool is closed');
}
