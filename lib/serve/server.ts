/**
 * `createServer(config)`: loads the models and serves them, on this thread (`threads: 1`) or on
 * several HTTP threads that share one set of engines (threads.ts). Shutdown drains in-flight
 * requests, then closes the pools.
 * @module
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { ServeConfig } from './config.js';
import { PoolMetrics, RequestMetrics } from './metrics.js';
import { loadModels, type ServedModel } from './models.js';
import { createThreadedServer } from './threads.js';

export type ServerState = 'loading' | 'ready' | 'draining' | 'closed';

export interface TorchpoolServer {
  /** The fastify app (single-thread servers; with `threads` > 1 each HTTP thread has its own). */
  readonly app?: FastifyInstance;
  /** The latest version of each served model, by name. */
  readonly models: Map<string, ServedModel>;
  readonly state: ServerState;
  /** HTTP threads answering requests. */
  readonly threads: number;
  /** Listens on the configured host and port; resolves with the address (port 0 picks one). */
  listen(): Promise<string>;
  /**
   * Stops accepting connections, turns readiness off, waits up to `drainTimeoutMs` for requests
   * in flight (on every thread), then closes the pools. Safe to call more than once.
   */
  shutdown(): Promise<void>;
}

/** Loads every model (in parallel), then builds the server. */
export async function createServer(config: ServeConfig): Promise<TorchpoolServer> {
  if ((config.threads ?? 1) > 1) return createThreadedServer(config);
  const table = await loadModels(config);
  let state: ServerState = 'ready';
  const requestMetrics = new RequestMetrics();
  const poolMetrics = new PoolMetrics(() => table.all());
  const app = await buildApp({
    config,
    table,
    metrics: requestMetrics,
    renderMetrics: async () => (await poolMetrics.render()) + (await requestMetrics.registry.metrics()),
    accepting: () => state === 'ready',
  });
  let shutdown: Promise<void> | undefined;
  return {
    app,
    get models() { return new Map(table.latest().map((m) => [m.name, m])); },
    get state() { return state; },
    threads: 1,
    async listen() {
      return app.listen({ host: config.host, port: config.port });
    },
    shutdown() {
      shutdown ??= (async () => {
        state = 'draining';
        await closeWithin(app, config.drainTimeoutMs);
        await Promise.all(table.all().map((m) => m.pool.close()));
        state = 'closed';
      })();
      return shutdown;
    },
  };
}

/** Closes a fastify app: no new connections, in-flight requests answered, the rest cut at the deadline. */
export async function closeWithin(app: FastifyInstance, deadlineMs: number): Promise<void> {
  const drained = app.close();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => { timer = setTimeout(() => resolve('deadline'), deadlineMs); });
  if ((await Promise.race([drained, deadline])) === 'deadline') app.server.closeAllConnections();
  clearTimeout(timer);
  await drained;
}
