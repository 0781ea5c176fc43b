/**
 * Cold start under load (`torchpool bench --cold-start`): the moment create() resolves, `callers`
 * callers each keep one request in flight, and every 500 ms window records the requests that
 * finished in it and the slowest of them. A service that starts under traffic sees exactly this:
 * whatever warmup left out (a batch size, a shape) is paid for by the first requests.
 * @module
 */
import type { InferencePool } from '../pool.js';
import type { InferInputs } from '../tensor.js';
import { percentiles } from './load.js';

export interface ColdStartWindow {
  /** Start of the window, ms after create() resolved. */
  startMs: number;
  requests: number;
  requestsPerSecond: number;
  /** The slowest request that finished in this window (or one still running at its end), ms. */
  worstMs: number;
}

export interface ColdStartResult {
  callers: number;
  /** How long create() took (loading and warming every engine). */
  loadMs: number;
  windowMs: number;
  windows: ColdStartWindow[];
  /** The second half of the run: requests per second, and the p99 latency of its requests. */
  steady: { requestsPerSecond: number; p99Ms: number };
  /** Requests finished in the first second, per second, over the steady rate (target: >= 0.5). */
  firstSecondFraction: number;
  /** The slowest request of the whole run over the steady p99 (target: <= 5). */
  worstOverSteadyP99: number;
  /** First-time input shapes the engines ran under this load (stats().engines[i].firstShapes). */
  firstShapeForwards: number;
  firstShapeMaxMs: number;
  meanBatchSize: number;
  failures: number;
}

/** Creates the pool with `open`, then drives it with `callers` callers for `durationMs`. */
export async function coldStart(
  open: () => Promise<InferencePool>,
  input: InferInputs,
  { callers, durationMs = 6000, windowMs = 500 }: { callers: number; durationMs?: number; windowMs?: number },
): Promise<ColdStartResult> {
  const created = performance.now();
  const pool = await open();
  const start = performance.now();
  const loadMs = start - created;
  const end = start + durationMs;
  const count = Math.ceil(durationMs / windowMs);
  const windows: ColdStartWindow[] = Array.from({ length: count }, (_, i) => ({ startMs: i * windowMs, requests: 0, requestsPerSecond: 0, worstMs: 0 }));
  const steadyLatencies: number[] = [];
  const running = new Set<number>();
  let failures = 0;
  const caller = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      running.add(t);
      try {
        await pool.infer(input);
      } catch {
        failures++;
      }
      running.delete(t);
      const done = performance.now();
      const at = Math.min(count - 1, Math.floor((done - start) / windowMs));
      const window = windows[at] as ColdStartWindow;
      window.requests++;
      window.worstMs = Math.max(window.worstMs, done - t);
      if (done - start >= durationMs / 2) steadyLatencies.push(done - t);
    }
  };
  // A request that has not finished when a window ends counts as at least that slow there, so a
  // stall longer than the run still shows.
  const watch = setInterval(() => {
    const now = performance.now();
    const at = Math.min(count - 1, Math.floor((now - start) / windowMs));
    for (const t of running) {
      const window = windows[at] as ColdStartWindow;
      window.worstMs = Math.max(window.worstMs, now - t);
    }
  }, windowMs / 5);
  try {
    await Promise.all(Array.from({ length: callers }, caller));
  } finally {
    clearInterval(watch);
  }
  const stats = pool.stats();
  await pool.close();
  for (const w of windows) w.requestsPerSecond = (w.requests * 1000) / windowMs;
  const half = windows.slice(Math.floor(count / 2));
  const steadyRate = half.reduce((n, w) => n + w.requestsPerSecond, 0) / Math.max(1, half.length);
  const perSecond = Math.max(1, Math.round(1000 / windowMs));
  const firstSecond = windows.slice(0, perSecond).reduce((n, w) => n + w.requests, 0);
  const p99 = percentiles(steadyLatencies).p99;
  const worst = Math.max(...windows.map((w) => w.worstMs));
  return {
    callers,
    loadMs,
    windowMs,
    windows,
    steady: { requestsPerSecond: steadyRate, p99Ms: p99 },
    firstSecondFraction: steadyRate > 0 ? firstSecond / steadyRate : 0,
    worstOverSteadyP99: p99 > 0 ? worst / p99 : Infinity,
    firstShapeForwards: stats.engines.reduce((n, e) => n + e.firstShapes.forwards, 0),
    firstShapeMaxMs: Math.max(0, ...stats.engines.map((e) => e.firstShapes.maxMs)),
    meanBatchSize: stats.meanBatchSize,
    failures,
  };
}

/** The cold-start table: one row per caller count, then each window's requests/s and worst latency. */
export function renderColdStart(results: ColdStartResult[]): string {
  const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
  const lines = [
    '| callers | load | first second / steady | worst / steady p99 | steady req/s | steady p99 | first-time shapes under load | mean batch |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    lines.push(`| ${r.callers} | ${ms(r.loadMs)} ms | ${(100 * r.firstSecondFraction).toFixed(0)}% | ${r.worstOverSteadyP99.toFixed(1)}x | ${r.steady.requestsPerSecond.toFixed(0)} | ${ms(r.steady.p99Ms)} ms | ${r.firstShapeForwards} (longest ${ms(r.firstShapeMaxMs)} ms) | ${r.meanBatchSize.toFixed(1)} |`);
  }
  lines.push('', `| callers | ${(results[0]?.windows ?? []).map((w) => `${w.startMs / 1000}s`).join(' | ')} |`, `| --- | ${(results[0]?.windows ?? []).map(() => '---').join(' | ')} |`);
  for (const r of results) {
    lines.push(`| ${r.callers}: req/s | ${r.windows.map((w) => w.requestsPerSecond.toFixed(0)).join(' | ')} |`);
    lines.push(`| ${r.callers}: worst ms | ${r.windows.map((w) => ms(w.worstMs)).join(' | ')} |`);
  }
  return lines.join('\n');
}
