/**
 * StatsTracker: native counters become {@link PoolStats}, with what JS derives from them.
 * @module
 */
import { openMpSettings } from './binding.js';
import type { NativePoolStats } from './native-types.js';
import type { BatchingSettings, EngineStats, PoolStats } from './stats.js';

/** Turns native counters into PoolStats; keeps the previous busy times for recentUtilization. */
export class StatsTracker {
  #last: { at: number; busyMs: number[] } | undefined;

  snapshot(raw: NativePoolStats, batching: Omit<BatchingSettings, 'enabled' | 'disabledReason'>, closed: boolean, loadMs?: number): PoolStats {
    const now = performance.now();
    const uptimeMs = raw.uptimeMs;
    // The first call on this thread measures from the engines' creation.
    const last = (this.#last ??= { at: now - uptimeMs, busyMs: [] });
    const sinceLast = now - last.at;
    const engines = raw.engines.map((e, i): EngineStats => {
      const busyBefore = last.busyMs[i] ?? 0;
      return {
        ...e,
        meanBatchSize: e.batches > 0 ? e.requests / e.batches : 0,
        utilization: uptimeMs > 0 ? Math.min(1, e.busyMs / uptimeMs) : 0,
        recentUtilization: sinceLast > 0 ? Math.min(1, Math.max(0, (e.busyMs - busyBefore) / sinceLast)) : 0,
        busy: e.inFlight > 0,
        lengthPadding: { ...e.lengthPadding, fraction: e.lengthPadding.paddedPositions > 0 ? 1 - e.lengthPadding.positions / e.lengthPadding.paddedPositions : 0 },
      };
    });
    this.#last = { at: now, busyMs: raw.engines.map((e) => e.busyMs) };
    const requests = engines.reduce((n, e) => n + e.requests, 0);
    const batches = engines.reduce((n, e) => n + e.batches, 0);
    const settings: BatchingSettings = { enabled: raw.batchingEnabled, ...batching };
    if (raw.batchingDisabledReason) settings.disabledReason = raw.batchingDisabledReason;
    return {
      engines,
      healthyEngines: engines.filter((e) => e.healthy).length,
      requests,
      batches,
      meanBatchSize: batches > 0 ? requests / batches : 0,
      queueDepth: raw.queueDepth,
      weightBytesByDevice: { ...raw.weightBytesByDevice },
      inFlight: raw.inFlight,
      completed: raw.completed,
      failed: raw.failed,
      batching: settings,
      latency: raw.latency,
      threads: raw.threads.map((t) => ({ ...t })),
      processSettings: { ...raw.processSettings, openmp: openMpSettings() },
      uptimeMs,
      ...(loadMs !== undefined ? { loadMs } : {}),
      closed,
    };
  }
}
