/**
 * Messages between the thread that owns the pools and the HTTP threads of `serve --threads`.
 * @module
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { ServedModelSpec } from './models.js';
import type { ModelIndexEntry } from './repository.js';

/** A repository operation an HTTP thread relays to the owner. */
export type ControlOp = { op: 'index'; ready: boolean } | { op: 'load'; name: string } | { op: 'unload'; name: string };

/** From the owner to an HTTP thread. */
export type ToThread =
  /** Send your request counters (for a /metrics scrape). */
  | { type: 'counters'; id: number }
  /** The answer to your `metrics` request: the whole server's Prometheus text. */
  | { type: 'metrics'; id: number; text?: string; error?: string }
  /** Route to `add` (new models, or versions that replace yours), stop routing `remove`; detach what you stopped using, then say `updated`. */
  | { type: 'update'; id: number; add: ServedModelSpec[]; remove: { name: string; version: string }[] }
  /** The answer to your `control` request. */
  | { type: 'control'; id: number; result?: ModelIndexEntry[] | null; error?: { status: number; message: string } }
  /** Stop accepting, answer what is in flight (within drainTimeoutMs), detach, then say `drained`. */
  | { type: 'drain' };

/** From an HTTP thread to the owner. */
export type FromThread =
  | { type: 'ready' }
  | { type: 'counters'; id: number; snapshot: MetricObjectWithValues<MetricValue<string>>[] }
  | { type: 'metrics'; id: number }
  | { type: 'updated'; id: number }
  | ({ type: 'control'; id: number } & ControlOp)
  | { type: 'drained' };
