/**
 * The shape of pool.stats(): native counters plus what is derived from them in JS
 * (lib/stats-tracker.ts). Types only, so that any module can name them.
 * @module
 */

/** The batching settings in effect, as reported by stats(). */
export interface BatchingSettings {
  enabled: boolean;
  maxBatchSize: number;
  maxQueueDelayMicros: number;
  /** Set when batching turned itself off (the model's output could not be split per request). */
  disabledReason?: string;
}

/**
 * Process-wide libtorch switches as torchpool set them: the first pool that names one applies
 * it; null when no pool has.
 */
export interface ProcessSettings {
  cudnnBenchmark: boolean | null;
  allowTF32: boolean | null;
  /** `torchscript.profilingExecutor` / `torchscript.tensorExprFuser` as the first pool that named them set them. */
  profilingExecutor: boolean | null;
  tensorExprFuser: boolean | null;
  /** `quantizedEngine` as the first pool that named it set it. */
  quantizedEngine: string | null;
  /**
   * How the OpenMP threads of CPU engines wait between forwards, as set in the environment when
   * the addon loaded (`OMP_WAIT_POLICY`, `GOMP_SPINCOUNT`, `KMP_BLOCKTIME`), and whether each
   * came from torchpool's defaults or was the user's own.
   */
  openmp: OpenMpSettings;
}

/** The OpenMP wait settings in the process (see the README, "The JavaScript thread and OpenMP"). */
export interface OpenMpSettings {
  /** Values as the OpenMP runtimes read them; absent when unset. */
  OMP_WAIT_POLICY?: string;
  GOMP_SPINCOUNT?: string;
  KMP_BLOCKTIME?: string;
  /** The variables torchpool set because the environment had none (the others were the user's). */
  setByTorchpool: string[];
}

/** Batch buckets of one engine ({@link ExecutionOptions.batchBuckets}). */
export interface BucketStats {
  /** The batch sizes batches are padded up to; empty when the engine pads nothing. */
  sizes: number[];
  /** Batches that ran padded, and the padding rows they ran (dropped from the outputs). */
  paddedBatches: number;
  paddedRows: number;
  /** Batches larger than the largest bucket, run at their own size. */
  oversized: number;
  /** Set when padding was turned off: the model's output does not keep the batch's rows. */
  offReason?: string;
}

/**
 * Forwards that ran an input shape for the first time on an engine: where first-time costs
 * (TorchScript specialising and compiling, cuDNN planning, graph capture) fall. After a good
 * warmup `forwards` stays 0 under traffic; when it grows, `recent` names the shapes to warm.
 */
export interface FirstShapeStats {
  /** First-time forwards since the engine started serving (warmup's are not counted). */
  forwards: number;
  /** Their time in the forward call, summed and the longest. */
  totalMs: number;
  maxMs: number;
  /** The latest of them (up to 8), oldest first: `shape` as `float32[8,3,224,224]`. */
  recent: { shape: string; ms: number }[];
  /** Distinct input shapes the engine has run, warmup included. */
  known: number;
  /** What the engine ran at load, on its own thread, before create() resolved. */
  warmup: { ms: number; shapes: string[] };
}


/** Percentiles of one latency, in milliseconds, over the most recent requests (up to 2048). */
export interface LatencyPercentiles {
  p50: number;
  p95: number;
  p99: number;
  /** Requests the percentiles are taken over. */
  count: number;
}

/** Where the time of recent requests went. */
export interface LatencyStats {
  /** From infer() to the start of the forward. */
  queueMs: LatencyPercentiles;
  /** The forward (a batch's forward for batched requests), with its host/device copies. */
  computeMs: LatencyPercentiles;
  /** From infer() to the promise settling. */
  totalMs: LatencyPercentiles;
  /**
   * Pool-wide only: where a request's time goes, stage by stage. `queueMs` waiting for an engine;
   * on CUDA engines `stagingMs` copying inputs into pinned memory and queueing the copy, `launchMs`
   * queueing the forward and the output copy, `deviceMs` until the GPU finished (on CPU engines:
   * the forward), `collectMs` copying the outputs out and splitting a batch; `wakeMs` until the JS
   * thread took the result, `settleMs` turning it into JavaScript values and settling the promise.
   * `forwardMs` is the part of `launchMs` spent in the model's forward call itself (the interpreter
   * queueing kernels, or a graph replay); the rest of `launchMs` queues the output copies. 0 on CPU
   * engines.
   */
  stages?: {
    queueMs: LatencyPercentiles;
    stagingMs: LatencyPercentiles;
    launchMs: LatencyPercentiles;
    deviceMs: LatencyPercentiles;
    collectMs: LatencyPercentiles;
    wakeMs: LatencyPercentiles;
    settleMs: LatencyPercentiles;
    forwardMs: LatencyPercentiles;
  };
}

/** What a CUDA engine adds to its {@link EngineStats}. */
export interface CudaEngineStats {
  /** The engine's own CUDA streams (handles; never the default stream). */
  computeStream: string;
  copyStream: string;
  pipelineDepth: number;
  /** Batches whose copy-in started while the previous batch's forward still ran. */
  overlapped: number;
  /** Page-locked staging memory of this engine. */
  pinned: {
    limitBytes: number;
    reservedBytes: number;
    inUseBytes: number;
    /** Bytes copied through pinned memory, both directions. */
    copiedBytes: number;
    /** Bytes copied through pageable memory because the pool had no block (or is 0 bytes). */
    pageableBytes: number;
    /** Input bytes copied to the device straight from {@link InferencePool.allocInput} memory. */
    directBytes: number;
    /** Staging requests the pool could not serve. */
    fallbacks: number;
    /**
     * cudaHostAlloc calls so far. The pool is sized at warmup for every batch size the warmup
     * shapes can merge into, so this stays flat under load (each call takes a driver-wide lock).
     */
    allocations: number;
  };
  graphs: {
    captured: number;
    replays: number;
    /** Set when a capture failed and the engine runs eagerly. */
    disabledReason?: string;
    /** The batch sizes graphs are captured for (batchBuckets); batches are padded up to one. */
    buckets: number[];
    /** Replays per bucket (rows), e.g. `{ "8": 120, "16": 44 }`. */
    replaysByBucket: Record<string, number>;
    /** Padding rows run to fit batches into buckets (dropped from the outputs). */
    paddedRows: number;
    /** Forwards that ran eagerly instead, by reason (shape not captured yet, larger than the largest bucket, ...). */
    eagerFallbacks: Record<string, number>;
    /** Device memory the engine's graphs took (their shared pool), measured around the captures. */
    poolBytes: number;
  };
  /** Forwards that ran out of device memory (the allocator freed this GPU's cache and retried first; a merged batch's members then ran alone). */
  outOfMemory: number;
  memory: {
    /** The device's free and total memory (all processes). */
    freeBytes: number;
    totalBytes: number;
    /** Held in tensors / reserved from the driver by libtorch's caching allocator on this device. */
    allocatedBytes: number;
    reservedBytes: number;
  };
}

/** Counters of one engine (one model replica and its native thread). */
export interface EngineStats {
  index: number;
  device: string;
  /** Which replica on its device (0 .. instancesPerDevice - 1). */
  instance: number;
  threads: number;
  /** False once repeated device errors took the engine out of rotation. */
  healthy: boolean;
  /** Requests run (a batch of 8 counts 8). */
  requests: number;
  /** Forwards run for work taken from the queue. */
  batches: number;
  /** requests / batches. */
  meanBatchSize: number;
  failures: number;
  /** Requests re-run alone because the batch they were in failed. */
  retried: number;
  /** Requests this engine took from another engine's deque. */
  stolen: number;
  /**
   * Batches this engine kept filling past `maxQueueDelayMicros` because its GPU was still busy
   * with the previous batch (`fillWhileBusy`); always 0 on CPU engines.
   */
  heldBatches: number;
  busyMs: number;
  /** busyMs divided by the pool's uptime, 0..1. */
  utilization: number;
  /** The busy fraction since the previous stats() call (or since create()), 0..1. */
  recentUtilization: number;
  /** Whether a forward is running now. */
  busy: boolean;
  /** Requests in flight on this engine (a CUDA engine's pipeline holds up to pipelineDepth batches). */
  inFlight: number;
  /** Requests waiting in this engine's deque. */
  queueDepth: number;
  latency: LatencyStats;
  /** Bytes of memory the engine's model weights take (parameters and buffers, or a package's constants); shared with other engines on its device where they share weights (AOTInductor). */
  weightBytes: number;
  /** TorchScript's executor optimisations as the engine's thread has them (`torchscript.optimizedExecution`). */
  optimizedExecution: boolean;
  /** How batches are padded to buckets on this engine. */
  buckets: BucketStats;
  /**
   * `padding`: requests that had a padded input, their positions on the padded axis (summed over
   * rows) and the positions they ran with; `fraction` of the run positions were padding.
   */
  lengthPadding: { requests: number; positions: number; paddedPositions: number; fraction: number };
  /** First-time input shapes: counted and timed, and what warmup ran. */
  firstShapes: FirstShapeStats;
  /** CUDA engines only. */
  cuda?: CudaEngineStats;
}

/** One JavaScript thread that uses the pool: the owner's, or a worker that attached (share / attach). */
export interface ThreadStats {
  /** `worker_threads.threadId` of the thread (0 for the main thread). */
  threadId: number;
  /** Whether this thread created the engines. */
  owner: boolean;
  /** Requests this thread submitted. */
  submitted: number;
  /** Of those, settled (resolved or rejected). */
  completed: number;
  /** Of those, rejected. */
  failed: number;
  /** Accepted and not yet settled. */
  inFlight: number;
}

/** A snapshot of a pool; cheap enough to take every second. */
export interface PoolStats {
  engines: EngineStats[];
  /** The threads using the pool now (one entry unless it was shared). Counters of threads that detached stay in the pool's totals. */
  threads: ThreadStats[];
  healthyEngines: number;
  /** Requests run by all engines. */
  requests: number;
  batches: number;
  meanBatchSize: number;
  /** Requests waiting, over all deques. */
  queueDepth: number;
  /**
   * Bytes of weights held per device, e.g. `{ 'cuda:0': 102e6 }`: blocks that engines share count
   * once. AOTInductor engines of one device share one copy; TorchScript replicas each have theirs.
   */
  weightBytesByDevice: Record<string, number>;
  /** Requests accepted and not yet settled (queued or running), from every thread. */
  inFlight: number;
  /** Promises settled (resolved or rejected), on every thread. */
  completed: number;
  /** Promises rejected after being accepted (forward errors, timeouts, aborts, close), on every thread. */
  failed: number;
  batching: BatchingSettings;
  latency: LatencyStats;
  /** Since the engines were created (on the owner's thread). */
  uptimeMs: number;
  /** How long create() took: reading the model, a replica per engine, and every engine's warmup (in parallel). Absent on attached pools. */
  loadMs?: number;
  /** cudnnBenchmark / allowTF32 as they apply to the whole process (the first pool that named them set them). */
  processSettings: ProcessSettings;
  closed: boolean;
}

