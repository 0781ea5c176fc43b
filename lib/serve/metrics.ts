/**
 * Prometheus metrics (`GET /metrics`) named like Triton's, so existing dashboards carry over.
 * Two halves, because with `--threads` they live in different threads:
 * - {@link RequestMetrics}: what each HTTP thread counts as it answers (request success and
 *   failure, inference count, request duration); summed over threads for a scrape.
 * - {@link PoolMetrics}: what the pools say (execution count, pending requests, queue depth,
 *   request/queue/compute summaries, engine and GPU utilization, memory, pinned pool) and the
 *   process metrics, reported once by the thread that owns the pools. Pool figures come from one
 *   `pool.stats()` snapshot per model per scrape, so every collector sees the same moment and
 *   `recentUtilization` spans the time since the previous scrape.
 * @module
 */
import { AggregatorRegistry, Counter, Gauge, type MetricObjectWithValues, type MetricValue, Registry, collectDefaultMetrics } from 'prom-client';
import type { PoolStats } from '../stats.js';
import type { ServedModel } from './models.js';

const QUANTILES = [['0.5', 'p50'], ['0.95', 'p95'], ['0.99', 'p99']] as const;

/** The counters one HTTP thread keeps. */
export class RequestMetrics {
  readonly registry = new Registry();
  readonly #success: Counter<'model' | 'version'>;
  readonly #failure: Counter<'model' | 'version' | 'reason'>;
  readonly #inferences: Counter<'model' | 'version'>;
  readonly #requestDuration: Counter<'model' | 'version'>;
  readonly #byThread: Counter<'thread'>;
  readonly #thread: string;

  /** `thread`: which HTTP thread this is (0 for a single-thread server; `grpc` for the gRPC service of a threaded one). */
  constructor(thread: number | string = 0) {
    this.#thread = String(thread);
    const registers = [this.registry];
    const labelNames = ['model', 'version'] as const;
    this.#success = new Counter({ name: 'nv_inference_request_success', help: 'Inference requests that succeeded', labelNames, registers });
    this.#failure = new Counter({ name: 'nv_inference_request_failure', help: 'Inference requests that failed, by reason (HTTP status class)', labelNames: [...labelNames, 'reason'], registers });
    this.#inferences = new Counter({ name: 'nv_inference_count', help: 'Inferences performed (a request of batch 8 counts 8)', labelNames, registers });
    this.#requestDuration = new Counter({ name: 'nv_inference_request_duration_us', help: 'Cumulative end-to-end request handling time, microseconds', labelNames, registers });
    this.#byThread = new Counter({ name: 'torchpool_http_thread_requests', help: 'Inference requests answered by each HTTP thread (serve --threads): how evenly the port spreads them', labelNames: ['thread'], registers });
  }

  // Labelled children per model, so a request does not hash its label set four times.
  readonly #children = new Map<string, { success: { inc(n?: number): void }; inferences: { inc(n?: number): void }; duration: { inc(n?: number): void } }>();
  #threadChild: { inc(n?: number): void } | undefined;

  /** One finished inference request. */
  record(model: { name: string; version: string }, ok: boolean, status: number, items: number, durationUs: number): void {
    const key = `${model.name}\u0000${model.version}`;
    let children = this.#children.get(key);
    if (!children) {
      children = {
        success: this.#success.labels(model.name, model.version),
        inferences: this.#inferences.labels(model.name, model.version),
        duration: this.#requestDuration.labels(model.name, model.version),
      };
      this.#children.set(key, children);
    }
    if (ok) {
      children.success.inc();
      children.inferences.inc(items);
    } else {
      const reason = status >= 500 ? 'SERVER' : status === 429 ? 'QUEUE_FULL' : status === 504 ? 'TIMEOUT' : 'BAD_REQUEST';
      this.#failure.inc({ model: model.name, version: model.version, reason });
    }
    children.duration.inc(durationUs);
    (this.#threadChild ??= this.#byThread.labels(this.#thread)).inc();
  }

  /** This thread's counters as data, to be summed with other threads' ({@link sumRequestMetrics}). */
  snapshot(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    return this.registry.getMetricsAsJSON();
  }
}

/** The Prometheus text of several threads' {@link RequestMetrics.snapshot}, summed per label set. */
export async function sumRequestMetrics(snapshots: MetricObjectWithValues<MetricValue<string>>[][]): Promise<string> {
  if (snapshots.length === 0) return '';
  return AggregatorRegistry.aggregate(snapshots).metrics();
}

/** What the pools report, and the process. */
export class PoolMetrics {
  readonly registry = new Registry();
  readonly #models: () => ServedModel[];
  #snapshot = new Map<ServedModel, PoolStats>();

  /** The Prometheus text of one scrape. */
  async render(): Promise<string> {
    this.#snapshot = new Map(this.#models().map((m) => [m, m.pool.stats()]));
    return this.registry.metrics();
  }

  constructor(models: () => ServedModel[]) {
    this.#models = models;
    // Collectors read the scrape's snapshot: one stats() per model, not one per metric.
    const snapshot = () => [...this.#snapshot.entries()].map(([m, stats]) => ({ m, stats }));
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const labelNames = ['model', 'version'] as const;
    new Counter({
      name: 'nv_inference_exec_count', help: 'Model executions (forwards); nv_inference_count / nv_inference_exec_count is the mean batch size', labelNames, registers,
      collect() {
        this.reset();
        for (const { m, stats } of snapshot()) this.inc({ model: m.name, version: m.version }, stats.batches);
      },
    });
    new Gauge({
      name: 'nv_inference_pending_request_count', help: 'Requests accepted and not finished (queued or running)', labelNames, registers,
      collect() {
        this.reset();
        for (const { m, stats } of snapshot()) this.set({ model: m.name, version: m.version }, stats.inFlight);
      },
    });
    new Gauge({
      name: 'torchpool_queue_depth', help: 'Requests waiting in the pool queue', labelNames, registers,
      collect() {
        this.reset();
        for (const { m, stats } of snapshot()) this.set({ model: m.name, version: m.version }, stats.queueDepth);
      },
    });
    for (const [metric, field, help] of [
      ['nv_inference_request_summary_us', 'totalMs', 'End-to-end request time in the pool (queue + compute), microseconds, over the last 2048 requests'],
      ['nv_inference_queue_summary_us', 'queueMs', 'Time requests waited for an engine, microseconds, over the last 2048 requests'],
      ['nv_inference_compute_infer_summary_us', 'computeMs', 'Forward time (with host/device copies), microseconds, over the last 2048 requests'],
    ] as const) {
      new Gauge({
        name: metric, help, labelNames: [...labelNames, 'quantile'], registers,
        collect() {
          this.reset();
          for (const { m, stats } of snapshot()) {
            const latency = stats.latency[field];
            if (latency.count === 0) continue;
            for (const [quantile, key] of QUANTILES) this.set({ model: m.name, version: m.version, quantile }, latency[key] * 1000);
          }
        },
      });
    }
    new Gauge({
      name: 'torchpool_engine_utilization', help: 'Busy fraction of each engine since the previous scrape', labelNames: ['model', 'engine', 'device'], registers,
      collect() {
        this.reset();
        for (const { m, stats } of snapshot()) {
          for (const e of stats.engines) this.set({ model: m.name, engine: String(e.index), device: e.device }, e.recentUtilization);
        }
      },
    });
    // Per GPU, over every model's engines on it.
    const perDevice = (pick: (e: PoolStats['engines'][number]) => number | undefined, combine: 'sum' | 'max' | 'first') => {
      const out = new Map<string, number>();
      for (const { stats } of snapshot()) {
        for (const e of stats.engines) {
          const v = pick(e);
          if (v === undefined) continue;
          const prev = out.get(e.device);
          out.set(e.device, prev === undefined || combine === 'first' ? (prev ?? v) : combine === 'sum' ? prev + v : Math.max(prev, v));
        }
      }
      return out;
    };
    const gpuGauge = (name: string, help: string, pick: Parameters<typeof perDevice>[0], combine: 'sum' | 'max' | 'first') => new Gauge({
      name, help, labelNames: ['gpu_uuid'], registers,
      collect() {
        this.reset();
        for (const [device, value] of perDevice(pick, combine)) this.set({ gpu_uuid: device }, value);
      },
    });
    gpuGauge('nv_gpu_utilization', 'GPU utilization by this server\'s engines since the previous scrape, 0..1', (e) => (e.cuda ? e.recentUtilization : undefined), 'max');
    gpuGauge('nv_gpu_memory_total_bytes', 'GPU total memory, bytes', (e) => e.cuda?.memory.totalBytes, 'first');
    gpuGauge('nv_gpu_memory_used_bytes', 'GPU used memory (all processes), bytes', (e) => (e.cuda ? e.cuda.memory.totalBytes - e.cuda.memory.freeBytes : undefined), 'first');
    gpuGauge('nv_pinned_memory_pool_total_bytes', 'Pinned host memory reserved by the engines\' staging pools, bytes', (e) => e.cuda?.pinned.reservedBytes, 'sum');
    gpuGauge('nv_pinned_memory_pool_used_bytes', 'Pinned host memory in use by the engines\' staging pools, bytes', (e) => e.cuda?.pinned.inUseBytes, 'sum');
  }
}
