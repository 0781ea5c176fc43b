/**
 * What every form of `torchpool serve` shares, one thread or several (server.ts, threads.ts,
 * http-thread.ts): the server's shape and states, the repository API of the thread that owns the
 * repository, and how a fastify app closes within the drain deadline.
 * @module
 */
import type { FastifyInstance } from 'fastify';
import type { RepositoryControl } from './app.js';
import type { ServedModel } from './models.js';
import type { ModelRepository } from './repository.js';

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
