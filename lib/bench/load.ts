/**
 * One benchmark configuration: `concurrency` callers each keep one request of `batch` rows in
 * flight, first for the warmup, then for the measured budget. Latency is measured per request on
 * the caller's side; queue and compute times come from the pool's own windows.
 * @module
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { InferencePool } from '../pool.js';
import type { LatencyPercentiles } from '../stats.js';
import type { InferInputs } from '../tensor.js';
import type { Budget } from './options.js';

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

export interface ConfigResult {
  precision: string;
  batch: number;
  concurrency: number;
  requests: number;
  items: number;
  seconds: number;
  itemsPerSecond: number;
  requestsPerSecond: number;
  /** Caller-side latency of infer(), ms. */
  latencyMs: Percentiles;
  /** From the pool's recent-request windows, ms. */
  queueMs: Percentiles;
  computeMs: Percentiles;
  totalMs: Percentiles;
  meanBatchSize: number;
  failures: number;
  engines: { device: string; instance: number; items: number; utilization: number }[];
  eventLoopDelayMs: { p99: number; max: number };
}

export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { p50: 0, p95: 0, p99: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.round(q * (sorted.length - 1)))] as number;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

const strip = ({ p50, p95, p99 }: LatencyPercentiles): Percentiles => ({ p50, p95, p99 });

/** Runs callers until the budget is spent; returns the latencies (ms) of the requests that completed. */
async function drive(pool: InferencePool, input: InferInputs, concurrency: number, budget: Budget, onDone?: () => void) {
  const latencies: number[] = [];
  let failures = 0;
  let started = 0;
  const deadline = 'ms' in budget ? performance.now() + budget.ms : Infinity;
  const limit = 'requests' in budget ? budget.requests : Infinity;
  const caller = async () => {
    while (started < limit && performance.now() < deadline) {
      started++;
      const t = performance.now();
      try {
        await pool.infer(input);
        latencies.push(performance.now() - t);
      } catch {
        failures++;
      }
      onDone?.();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  return { latencies, failures };
}

export async function runConfig(
  pool: InferencePool,
  config: { precision: string; batch: number; concurrency: number; input: InferInputs },
  budgets: { warmup: Budget; measure: Budget },
  onProgress?: () => void,
): Promise<ConfigResult> {
  await drive(pool, config.input, config.concurrency, budgets.warmup);
  const before = pool.stats();
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const start = performance.now();
  const { latencies, failures } = await drive(pool, config.input, config.concurrency, budgets.measure, onProgress);
  const seconds = (performance.now() - start) / 1000;
  loop.disable();
  const after = pool.stats();
  const requests = latencies.length;
  const batches = after.batches - before.batches;
  return {
    precision: config.precision,
    batch: config.batch,
    concurrency: config.concurrency,
    requests,
    items: requests * config.batch,
    seconds,
    itemsPerSecond: (requests * config.batch) / seconds,
    requestsPerSecond: requests / seconds,
    latencyMs: percentiles(latencies),
    queueMs: strip(after.latency.queueMs),
    computeMs: strip(after.latency.computeMs),
    totalMs: strip(after.latency.totalMs),
    meanBatchSize: batches > 0 ? (after.requests - before.requests) / batches : 0,
    failures,
    engines: after.engines.map((e, i) => {
      const b = before.engines[i];
      return {
        device: e.device,
        instance: e.instance,
        items: (e.requests - (b?.requests ?? 0)) * config.batch,
        utilization: Math.min(1, (e.busyMs - (b?.busyMs ?? 0)) / (seconds * 1000)),
      };
    }),
    eventLoopDelayMs: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
  };
}

/** Runs a fixed list of requests through `pools` and returns the wall time (ms) until all are done. */
export async function makespan(jobs: { pool: InferencePool; input: InferInputs }[]): Promise<number> {
  const start = performance.now();
  await Promise.all(jobs.map(({ pool, input }) => pool.infer(input)));
  return performance.now() - start;
}
