/**
 * Messages between the thread that owns the pools and the HTTP threads of `serve --threads`.
 * @module
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** From the owner to an HTTP thread. */
export type ToThread =
  /** Send your request counters (for a /metrics scrape). */
  | { type: 'counters'; id: number }
  /** The answer to your `metrics` request: the whole server's Prometheus text. */
  | { type: 'metrics'; id: number; text?: string; error?: string }
  /** Stop accepting, answer what is in flight (within drainTimeoutMs), detach, then say `drained`. */
  | { type: 'drain' };

/** From an HTTP thread to the owner. */
export type FromThread =
  | { type: 'ready' }
  | { type: 'counters'; id: number; snapshot: MetricObjectWithValues<MetricValue<string>>[] }
  | { type: 'metrics'; id: number }
  | { type: 'drained' };
