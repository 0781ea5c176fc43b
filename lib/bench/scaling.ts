/**
 * How the work scales over engines: the same job on 1..N engines, and a job of uneven item costs
 * on the shared queue against a static equal split (each engine a pool of its own, items in
 * contiguous blocks), so the gain of dynamic balancing is measured rather than claimed.
 * @module
 */
import * as os from 'node:os';
import type { InferencePoolOptions } from '../options.js';
import { InferencePool } from '../pool.js';
import { type BenchModel, makeInput } from './inputs.js';
import { makespan, runConfig } from './load.js';
import type { Budget } from './options.js';

export interface ScalingRow {
  engines: number;
  devices: string[];
  ms: number;
  itemsPerSecond: number;
  speedup: number;
  efficiency: number;
}

export interface UnevenJob {
  engines: number;
  items: number;
  rowsRange: [number, number];
  idealMs: number;
  sharedMs: number;
  staticMs: number;
}

/** One queue over engines of different speed (e.g. `cuda:0,cpu`) against each device alone. */
export interface MixedDevices {
  batch: number;
  concurrency: number;
  /** Each distinct device as a pool of its own. */
  alone: { device: string; itemsPerSecond: number }[];
  /** All of them behind one queue: throughput, and the share of the requests each engine ran. */
  together: { itemsPerSecond: number; engines: { device: string; requests: number; share: number }[] };
}

/** The distinct devices of a pool when there are several (a mixed pool), else an empty list. */
export function distinctDevices(devices: readonly string[]): string[] {
  const distinct = [...new Set(devices)];
  return distinct.length > 1 ? distinct : [];
}

/** Measures a mixed pool: each device alone, then all behind the one shared queue. */
export async function mixedDevices(
  model: BenchModel,
  devices: string[],
  threads: number | undefined,
  batch: number,
  concurrency: number,
  budgets: { warmup: Budget; measure: Budget },
): Promise<MixedDevices> {
  const input = makeInput(model, batch);
  const measure = async (set: string[]) => {
    const pool = await InferencePool.create(poolOptions(model, set, threads, { batching: false }));
    try {
      return await runConfig(pool, { precision: 'fp32', batch, concurrency, input }, budgets);
    } finally {
      await pool.close();
    }
  };
  const alone: MixedDevices['alone'] = [];
  for (const device of devices) alone.push({ device, itemsPerSecond: (await measure([device])).itemsPerSecond });
  const all = await measure(devices);
  const total = all.engines.reduce((n, e) => n + e.items, 0);
  return {
    batch,
    concurrency,
    alone,
    together: {
      itemsPerSecond: all.itemsPerSecond,
      engines: all.engines.map((e) => ({ device: e.device, requests: e.items / batch, share: total > 0 ? e.items / total : 0 })),
    },
  };
}

/** The engine sets to compare: the GPUs 1..G, else 1..4 single-thread CPU engines, else instances of one GPU. */
export function engineSets(devices: string[]): { devices: string[]; threads?: number }[] {
  const gpus = [...new Set(devices.filter((d) => d.startsWith('cuda')))];
  if (gpus.length > 1) return gpus.map((_, i) => ({ devices: gpus.slice(0, i + 1) }));
  if (gpus.length === 1) return [{ devices: gpus }, { devices: [gpus[0] as string, gpus[0] as string] }];
  const n = Math.max(1, Math.min(4, os.availableParallelism()));
  return Array.from({ length: n }, (_, i) => ({ devices: Array(i + 1).fill('cpu') as string[], threads: 1 }));
}

function poolOptions(model: BenchModel, devices: string[], threads: number | undefined, extra: Partial<InferencePoolOptions>): InferencePoolOptions {
  return { model: model.file, devices, ...(threads ? { threadsPerEngine: threads } : {}), ...extra };
}

/** The same `requests` requests of `batch` rows on each engine set. */
export async function scaling(model: BenchModel, sets: ReturnType<typeof engineSets>, batch: number, requests: number): Promise<ScalingRow[]> {
  const rows: ScalingRow[] = [];
  const input = makeInput(model, batch);
  for (const set of sets) {
    const pool = await InferencePool.create(poolOptions(model, set.devices, set.threads, { batching: false }));
    try {
      await makespan(Array.from({ length: set.devices.length * 2 }, () => ({ pool, input })));
      const ms = await makespan(Array.from({ length: requests }, () => ({ pool, input })));
      const base = rows[0]?.ms ?? ms;
      rows.push({
        engines: set.devices.length,
        devices: set.devices,
        ms,
        itemsPerSecond: (requests * batch * 1000) / ms,
        speedup: base / ms,
        efficiency: base / ms / set.devices.length,
      });
    } finally {
      await pool.close();
    }
  }
  return rows;
}

/**
 * `items` requests whose rows rise from `unit` to 10 x `unit` (a dataset sorted by length) on the
 * widest engine set: one shared pool vs one pool per engine fed equal contiguous blocks.
 */
export async function unevenJob(model: BenchModel, set: ReturnType<typeof engineSets>[number], unit: number, items: number): Promise<UnevenJob> {
  const n = set.devices.length;
  const rows = Array.from({ length: items }, (_, i) => unit * (1 + Math.round((9 * i) / Math.max(1, items - 1))));
  const inputs = rows.map((r) => makeInput(model, r));
  const shared = await InferencePool.create(poolOptions(model, set.devices, set.threads, { batching: false }));
  let sharedMs: number;
  let idealMs: number;
  try {
    await makespan(inputs.slice(0, n).map((input) => ({ pool: shared, input })));
    const busyBefore = shared.stats().engines.reduce((s, e) => s + e.busyMs, 0);
    sharedMs = await makespan(inputs.map((input) => ({ pool: shared, input })));
    idealMs = (shared.stats().engines.reduce((s, e) => s + e.busyMs, 0) - busyBefore) / n;
  } finally {
    await shared.close();
  }
  const pools = await Promise.all(set.devices.map((d) => InferencePool.create(poolOptions(model, [d], set.threads, { batching: false }))));
  let staticMs: number;
  try {
    await Promise.all(pools.map((pool, k) => pool.infer(inputs[k] ?? inputs[0]!)));
    const per = Math.ceil(items / n);
    staticMs = await makespan(inputs.map((input, i) => ({ pool: pools[Math.min(n - 1, Math.floor(i / per))]!, input })));
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  return { engines: n, items, rowsRange: [unit, unit * 10], idealMs, sharedMs, staticMs };
}
