/**
 * `createServer(config)`: loads the models and serves them, on this thread (`threads: 1`) or on
 * several HTTP threads that share one set of engines (threads.ts). Shutdown drains in-flight
 * requests, then closes the pools.
 * @module
 */
import { buildApp } from './app.js';
import { startGrpc } from './grpc/server.js';
import type { ServeConfig } from './config.js';
import { closeWithin, localControl, type ServerState, type TorchpoolServer } from './lifecycle.js';
import { PoolMetrics, RequestMetrics } from './metrics.js';
import { ModelRepository } from './repository.js';
import { createThreadedServer } from './threads.js';

export type { ServerState, TorchpoolServer } from './lifecycle.js';

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
