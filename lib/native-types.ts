/**
 * The native addon's surface as TypeScript sees it: what lib/binding.ts loads, what the load
 * plan holds and what native stats look like before lib/stats-tracker.ts shapes them. Types only.
 * @module
 */
import type { EngineUnhealthyEvent } from './events.js';
import type { ExecutionPlan } from './execution.js';
import type { BucketStats, CudaEngineStats, FirstShapeStats, LatencyStats, ProcessSettings, ThreadStats } from './stats.js';

/** What the native loader receives: one entry per engine. */
export interface LoadPlan {
  format: 'auto' | 'torchscript' | 'aoti';
  modelName?: string;
  extensions: string[];
  devices: string[];
  instances: number[];
  threads: number[];
  optimize: boolean;
  unhealthyAfter: number;
  quantizedEngine?: string;
  execution: ExecutionPlan;
  cudnnBenchmark?: boolean;
  allowTF32?: boolean;
  scheduler: {
    maxBatchSize: number;
    maxQueueDelayMicros: number;
    spinMicros: number;
    maxQueueSize: number;
    priorityAgingMs: number;
    batchBuckets: number[];
  };
}

/** Facts about the libtorch the addon was built against. */
export interface BuildInfo {
  torchVersion: string;
  torchOrigin: string;
  cuda: boolean;
  napiVersion: number;
  parallelInfo: string;
  /** Whether this build runs AOTInductor packages (.pt2): libtorch 2.6 or later. */
  aoti: boolean;
  /**
   * Whether this build has libtorch's Kineto profiler API, with which `pool.profile()` records
   * GPU kernels on CUDA engines (recording also needs a libtorch built with Kineto and CUPTI).
   */
  kernelProfiler: boolean;
  /** Extension libraries loaded in this process so far. */
  extensions: string[];
  /** The quantized (INT8) engines this libtorch has, e.g. `['qnnpack', 'onednn']` (the `quantizedEngine` option's choices). */
  quantizedEngines: string[];
  /** The quantized engine in use now (libtorch's default until a pool names `quantizedEngine`). */
  quantizedEngine: string;
}

export interface NativeCudaDevice {
  index: number;
  name: string;
  totalMemory: number;
  freeMemory: number;
  computeCapability: string;
  multiprocessors: number;
}

export interface NativeCudaQuery {
  devices: NativeCudaDevice[];
  note: string;
  runtimeVersion: number;
  driverVersion: number;
}

export interface NativeEngineStats {
  index: number;
  device: string;
  instance: number;
  threads: number;
  healthy: boolean;
  requests: number;
  batches: number;
  failures: number;
  retried: number;
  stolen: number;
  heldBatches: number;
  busyMs: number;
  inFlight: number;
  queueDepth: number;
  latency: LatencyStats;
  buckets: BucketStats;
  firstShapes: FirstShapeStats;
  optimizedExecution: boolean;
  weightBytes: number;
  lengthPadding: { requests: number; positions: number; paddedPositions: number };
  cuda?: CudaEngineStats;
}

export interface NativePoolStats {
  engines: NativeEngineStats[];
  weightBytesByDevice: Record<string, number>;
  threads: ThreadStats[];
  uptimeMs: number;
  /** Whether the engines were closed (by the owner, or because its thread exited). */
  closed: boolean;
  processSettings: Omit<ProcessSettings, 'openmp'>;
  queueDepth: number;
  inFlight: number;
  completed: number;
  failed: number;
  batchingEnabled: boolean;
  batchingDisabledReason: string;
  latency: LatencyStats;
}

export interface NativeSignature {
  inputs: { name: string; type: string; optional: boolean }[];
  output: string;
  format: 'torchscript' | 'aoti';
  metadata: Record<string, string>;
  quantized: boolean;
}

export interface NativeLoadOptions extends LoadPlan {
  model: string | Buffer;
}

/** `(name, details)`: engine health changes, reported on the JS thread. */
export type NativeEventHandler = (name: 'engineUnhealthy', details: EngineUnhealthyEvent) => void;

/**
 * `(slab, values)`: a batch of settled requests (native/binding/settled_records.h), on the JS
 * thread, from drain(), cancel() and close().
 */
export type NativeSettledHandler = (slab: ArrayBuffer, values: unknown[]) => void;

export interface NativePool {
  /** Resolves with warnings about process-wide settings this pool asked for but could not change. */
  load(options: NativeLoadOptions): Promise<{ warnings: string[]; format: 'torchscript' | 'aoti' }>;
  /** Connects to the engines behind a share() token; throws CLOSED when they are gone. */
  attach(token: number): void;
  /** The token of this pool's engines in this process. */
  share(): number;
  /**
   * Queues the requests of one turn of the event loop, as flat records (lib/submissions.ts,
   * native/binding/pool_submit.cc); their results come back through onSettled by ticket.
   * Returns the refused ones (bad input, QUEUE_FULL, NO_DEVICE, CLOSED) as [ticket, error, ...].
   */
  submit(objects: unknown[], numbers: Float64Array, count: number): unknown[] | undefined;
  /** Settles, through onSettled, the requests engines have finished (called from the scheduleDrain callback). */
  drain(): void;
  /** Settles a still-queued request with ABORTED or TIMEOUT; false if it already started. */
  cancel(id: number, code: 'ABORTED' | 'TIMEOUT'): boolean;
  /** The first call returns the promise of the shutdown; a later close(false) rejects what is still queued. */
  close(drain: boolean): Promise<void> | undefined;
  stats(): NativePoolStats;
  /** Whether the engines were closed (by the owner, or because its thread exited). */
  closed(): boolean;
  signature(): NativeSignature;
  /** pool.profile(): throws BUSY while a profile of these engines is being recorded. */
  profileStart(): void;
  profileStop(): { names: string[]; events: Float64Array; dropped: number; kernels: Float64Array; kernelNote?: string };
}

export interface NativeBinding {
  NativePool: new (onEvent: NativeEventHandler, scheduleDrain: () => void, threadId: number, onSettled: NativeSettledHandler) => NativePool;
  setErrorFactory(factory: (code: string, message: string) => Error): void;
  buildInfo(): BuildInfo;
  listCudaDevices(): NativeCudaQuery;
  builtinModelNames(): string[];
  writeBuiltinModel(name: string, file: string, seed: number): Promise<void>;
  /** A close-on-exec duplicate of a file descriptor (serve --threads shares one listening socket). */
  dupFd(fd: number): number;
  /** Page-locked host memory made on a CUDA device, owned by the returned buffer (pool.allocInput). */
  allocPinned(bytes: number, device: number): { buffer?: ArrayBuffer; reason?: string };
}

