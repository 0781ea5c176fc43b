/**
 * One HTTP thread of `torchpool serve --threads` (a worker_thread; see threads.ts): attaches to
 * the shared pools, builds the same fastify app as a single-thread server, and listens on its
 * own duplicate of the server's listening socket.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildApp } from './app.js';
import { RequestMetrics } from './metrics.js';
import { ModelTable } from './model-table.js';
import { ServedModel } from './models.js';
import { closeWithin } from './server.js';
import type { FromThread, ToThread } from './thread-messages.js';
import type { HttpThreadData } from './threads.js';

async function main(port: NonNullable<typeof parentPort>, data: HttpThreadData): Promise<void> {
  const { config } = data;
  const send = (message: FromThread) => port.postMessage(message);
  const table = new ModelTable();
  for (const spec of data.models) table.set(await ServedModel.attach(spec));
  const metrics = new RequestMetrics(data.index);
  let accepting = true;
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  let nextRequest = 1;
  const app = await buildApp({
    config,
    table,
    metrics,
    accepting: () => accepting,
    renderMetrics: () => new Promise<string>((resolve, reject) => {
      const id = nextRequest++;
      waiting.set(id, { resolve, reject });
      send({ type: 'metrics', id });
    }),
  });
  port.on('message', (message: ToThread) => {
    switch (message.type) {
      case 'counters':
        void metrics.snapshot().then((snapshot) => send({ type: 'counters', id: message.id, snapshot }));
        break;
      case 'metrics': {
        const pending = waiting.get(message.id);
        waiting.delete(message.id);
        if (message.text !== undefined) pending?.resolve(message.text);
        else pending?.reject(new Error(message.error ?? 'metrics unavailable'));
        break;
      }
      case 'drain':
        accepting = false;
        void (async () => {
          await closeWithin(app, config.drainTimeoutMs);
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
