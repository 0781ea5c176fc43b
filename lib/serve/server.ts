/**
 * `createServer(config)`: loads the models and serves them, on this thread (`threads: 1`) or on
 * several HTTP threads that share one set of engines (threads.ts). Shutdown drains in-flight
 * requests, then closes the pools.
 * @module
 */
import type { FastifyInstance } from 'fastify';
import { buildApp, type RepositoryControl } from './app.js';
import { startGrpc } from './grpc/server.js';
import type { ServeConfig } from './config.js';
import { PoolMetrics, RequestMetrics } from './metrics.js';
import type { ServedModel } from './models.js';
import { ModelRepository } from './repository.js';
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
  /** The models, their versions and states, and the load / unload API (in this thread). */
  readonly repository: ModelRepository;
  /** Where the gRPC service listens (`grpcPort`), e.g. `127.0.0.1:8001`. */
  readonly grpcAddress?: string;
  /** Listens on the configured host and port; resolves with the address (port 0 picks one). */
  listen(): Promise<string>;
  /**
   * Stops accepting connections, turns readiness off, waits up to `drainTimeoutMs` for requests
   * in flight (on every thread), then closes the pools. Safe to call more than once.
   */
  shutdown(): Promise<void>;
}

/** Loads the models (in parallel), then builds the server. */
export async function createServer(config: ServeConfig): Promise<TorchpoolServer> {
  if ((config.threads ?? 1) > 1) return createThreadedServer(config);
  const repository = new ModelRepository(config);
  await repository.start();
  const table = repository.table;
  let state: ServerState = 'ready';
  const requestMetrics = new RequestMetrics();
  const poolMetrics = new PoolMetrics(() => table.all());
  const renderMetrics = async () => (await poolMetrics.render()) + (await requestMetrics.registry.metrics());
  const accepting = () => state === 'ready';
  const control = localControl(repository);
  const app = await buildApp({ config, table, metrics: requestMetrics, renderMetrics, accepting, repository: control });
  const grpc = config.grpcPort !== undefined ? await startGrpc({ config, table, metrics: requestMetrics, accepting, repository: control }) : undefined;
  let shutdown: Promise<void> | undefined;
  return {
    app,
    get models() { return new Map(table.latest().map((m) => [m.name, m])); },
    get state() { return state; },
    threads: 1,
    repository,
    ...(grpc ? { grpcAddress: grpc.address } : {}),
    async listen() {
      return app.listen({ host: config.host, port: config.port });
    },
    shutdown() {
      shutdown ??= (async () => {
        state = 'draining';
        await Promise.all([closeWithin(app, config.drainTimeoutMs), grpc?.close(config.drainTimeoutMs)]);
        await repository.close();
        state = 'closed';
      })();
      return shutdown;
    },
  };
}

/** The repository API of a server whose repository lives in this thread. */
export function localControl(repository: ModelRepository): RepositoryControl {
  return {
    index: async (readyOnly) => repository.index(readyOnly),
    load: (name) => repository.load(name),
    unload: (name) => repository.unload(name),
  };
}

/** Closes a fastify app: no new connections, in-flight requests answered, the rest cut at the deadline. */
export async function closeWithin(app: FastifyInstance, deadlineMs: number): Promise<void> {
  const drained = app.close();
  // Connections that finish their last request become idle: close them as they do.
  const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => { timer = setTimeout(() => resolve('deadline'), deadlineMs); });
  if ((await Promise.race([drained, deadline])) === 'deadline') app.server.closeAllConnections();
  clearTimeout(timer);
  clearInterval(sweep);
  await drained;
}
