/**
 * One HTTP thread of `torchpool serve --threads` (a worker_thread; see threads.ts): attaches to
 * the shared pools, builds the same fastify app as a single-thread server, and listens on its
 * own duplicate of the server's listening socket.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildApp } from './app.js';
import { startGrpc } from './grpc/server.js';
import { RequestMetrics } from './metrics.js';
import { ModelTable } from './model-table.js';
import { ServedModel } from './models.js';
import { HttpError } from './http-error.js';
import type { ModelIndexEntry } from './repository.js';
import { closeWithin } from './lifecycle.js';
import type { FromThread, ToThread } from './thread-messages.js';
import type { HttpThreadData } from './threads.js';

async function main(port: NonNullable<typeof parentPort>, data: HttpThreadData): Promise<void> {
  const { config } = data;
  const send = (message: FromThread) => port.postMessage(message);
  const table = new ModelTable();
  for (const spec of data.models) table.set(await ServedModel.attach(spec));
  const metrics = new RequestMetrics(data.index);
  let accepting = true;
  const waiting = new Map<number, { resolve: (value: never) => void; reject: (error: Error) => void }>();
  let nextRequest = 1;
  /** Asks the owner thread and waits for its answer. */
  const ask = <T>(message: (id: number) => FromThread) => new Promise<T>((resolve, reject) => {
    const id = nextRequest++;
    waiting.set(id, { resolve: resolve as (value: never) => void, reject });
    send(message(id));
  });
  // Repository operations run in the owner thread.
  const repository = {
    index: (ready: boolean) => ask<ModelIndexEntry[]>((id) => ({ type: 'control', id, op: 'index', ready })),
    load: (name: string) => ask<void>((id) => ({ type: 'control', id, op: 'load', name })),
    unload: (name: string) => ask<void>((id) => ({ type: 'control', id, op: 'unload', name })),
  };
  const app = await buildApp({
    config,
    table,
    metrics,
    accepting: () => accepting,
    renderMetrics: () => ask<string>((id) => ({ type: 'metrics', id })),
    repository,
  });
  // gRPC on this thread too, on its duplicate of the shared gRPC socket, counted with HTTP.
  const grpc = data.grpc ? await startGrpc({ config, table, metrics, accepting: () => accepting, repository, shared: data.grpc }) : undefined;
  port.on('message', (message: ToThread) => {
    switch (message.type) {
      case 'counters':
        void metrics.snapshot().then((snapshot) => send({ type: 'counters', id: message.id, snapshot }));
        break;
      case 'metrics': {
        const pending = waiting.get(message.id);
        waiting.delete(message.id);
        if (message.text !== undefined) pending?.resolve(message.text as never);
        else pending?.reject(new Error(message.error ?? 'metrics unavailable'));
        break;
      }
      case 'control': {
        const pending = waiting.get(message.id);
        waiting.delete(message.id);
        if (message.error) pending?.reject(new HttpError(message.error.status, message.error.message));
        else pending?.resolve((message.result ?? undefined) as never);
        break;
      }
      case 'update':
        void (async () => {
          // Route to the new models first, then let go of what they replaced.
          const attached = await Promise.all(message.add.map((spec) => ServedModel.attach(spec).catch(() => undefined)));
          const released: ServedModel[] = [];
          for (const model of attached) {
            if (!model) continue;
            const previous = table.set(model);
            if (previous) released.push(previous);
          }
          for (const { name, version } of message.remove) {
            const previous = table.delete(name, version);
            if (previous) released.push(previous);
          }
          // An attached pool's close() resolves once this thread's requests on it are answered.
          await Promise.all(released.map((m) => m.pool.close({ drain: true })));
          send({ type: 'updated', id: message.id });
        })();
        break;
      case 'drain':
        accepting = false;
        void (async () => {
          await Promise.all([closeWithin(app, config.drainTimeoutMs), grpc?.close(config.drainTimeoutMs)]);
          // Detach from the shared pools: this thread's requests are all answered by now.
          await Promise.all(table.all().map((m) => m.pool.close()));
          send({ type: 'drained' });
          port.close();
        })();
        break;
    }
  });
  // The fd wins over host in Node's listen(); fastify only needs a host other than 'localhost'
  // (for which it would bind a second address itself).
  await app.listen({ fd: data.fd, host: config.host === 'localhost' ? '127.0.0.1' : config.host } as { host: string });
  send({ type: 'ready' });
}

if (parentPort) {
  main(parentPort, workerData as HttpThreadData).catch((error: unknown) => {
    process.stderr.write(`torchpool serve: HTTP thread ${(workerData as HttpThreadData).index}: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
