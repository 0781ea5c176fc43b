/**
 * `torchpool serve --threads N`: N HTTP threads (worker_threads) accept and answer requests on
 * one port while this thread owns the pools. Every model is loaded once, here, and shared
 * (pool.share()); each HTTP thread attaches to it, so all threads feed the same queue and their
 * requests merge into the same batches.
 *
 * One port for all: this thread opens the listening socket, then each HTTP thread listens on a
 * duplicate of its descriptor (Node 20 has no reusePort). The kernel hands each connection to
 * whichever thread accepts first; a thread that stops listening closes only its own duplicate.
 * A spare duplicate stays here, so a thread that dies is replaced on the same socket. The gRPC
 * port (`grpcPort`) is shared the same way: every HTTP thread serves gRPC too.
 *
 * This thread also answers for the whole server: `/metrics` on any thread asks here, and the
 * answer sums every thread's request counters with the pools' figures; shutdown tells every
 * thread to drain, waits for them, then closes the pools.
 * @module
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { nativeBinding } from '../binding.js';
import type { ServeConfig } from './config.js';
import { HttpError, toHttpError } from './http-error.js';
import { PoolMetrics, sumRequestMetrics } from './metrics.js';
import type { ServedModelSpec } from './models.js';
import { ModelRepository, type TableSync } from './repository.js';
import { localControl, type ServerState, type TorchpoolServer } from './lifecycle.js';
import type { ControlOp, FromThread, ToThread } from './thread-messages.js';

/** What an HTTP thread starts with. */
export interface HttpThreadData {
  index: number;
  config: ServeConfig;
  fd: number;
  /** `grpcPort`: a duplicate of the gRPC listening socket, which this thread serves too. */
  grpc?: { fd: number; address: string };
  models: ServedModelSpec[];
}

const workerFile = path.join(__dirname, 'http-thread.js');
const COUNTERS_TIMEOUT_MS = 2000;

interface Thread {
  index: number;
  worker: Worker;
  ready: Promise<void>;
  exited: Promise<number>;
  drained?: Promise<void>;
}

function formatAddress(address: net.AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/**
 * A duplicate of a listening socket's descriptor (no public API gives it), after which the socket
 * itself closes: kept as a spare with no handle in this thread's loop, so this thread never accepts.
 */
async function spareDescriptor(socket: net.Server): Promise<number> {
  const fd = nativeBinding().dupFd((socket as unknown as { _handle: { fd: number } })._handle.fd);
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return fd;
}

/** Binds host:port and keeps only a spare descriptor of it; the address as gRPC clients dial it. */
async function openSharedSocket(host: string, port: number): Promise<{ fd: number; address: string }> {
  const socket = net.createServer();
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.listen({ host, port }, resolve);
  });
  const bound = (socket.address() as net.AddressInfo).port;
  const name = host.includes(':') ? `[${host}]` : host;
  return { fd: await spareDescriptor(socket), address: `${name}:${bound}` };
}

export async function createThreadedServer(config: ServeConfig): Promise<TorchpoolServer> {
  const count = config.threads ?? 1;
  const repository = new ModelRepository(config);
  await repository.start();
  const table = repository.table;
  const poolMetrics = new PoolMetrics(() => table.all());
  let state: ServerState = 'ready';
  let spareFd = -1;
  const threads = new Map<number, Thread>();
  const waiting = new Map<number, (value: unknown) => void>();
  let nextRequest = 1;

  const send = (thread: Thread, message: ToThread) => thread.worker.postMessage(message);

  // Reloads: every HTTP thread switches to the new models and lets go of the old ones before the
  // repository closes the old pools.
  const sync: TableSync = {
    async publish(add, remove) {
      const specs = add.map((m) => m.describe());
      await Promise.all([...threads.values()].map((thread) => new Promise<void>((resolve) => {
        const id = nextRequest++;
        waiting.set(id, () => resolve());
        // A thread that dies meanwhile no longer uses anything.
        void thread.exited.then(() => { waiting.delete(id); resolve(); });
        send(thread, { type: 'update', id, add: specs, remove });
      })));
    },
  };
  repository.setSync(sync);
  const control = localControl(repository);
  const runControl = async (op: ControlOp) => {
    if (op.op === 'index') return control.index(op.ready);
    if (state !== 'ready') throw new HttpError(503, 'the server is shutting down');
    await control[op.op](op.name);
    return null;
  };
  // The gRPC socket is bound here and served by every HTTP thread, on a duplicate each.
  const grpc = config.grpcPort !== undefined ? await openSharedSocket(config.host, config.grpcPort) : undefined;

  /** This thread's counters, or undefined when it does not answer in time (it is stuck or gone). */
  const countersOf = (thread: Thread) => new Promise<unknown>((resolve) => {
    const id = nextRequest++;
    const timer = setTimeout(() => { waiting.delete(id); resolve(undefined); }, COUNTERS_TIMEOUT_MS);
    waiting.set(id, (value) => { clearTimeout(timer); resolve(value); });
    send(thread, { type: 'counters', id });
  });

  const renderMetrics = async (): Promise<string> => {
    const snapshots = (await Promise.all([...threads.values()].map(countersOf))).filter((s) => s !== undefined);
    return (await poolMetrics.render()) + (await sumRequestMetrics(snapshots as Parameters<typeof sumRequestMetrics>[0]));
  };

  const start = (index: number): Thread => {
    const data: HttpThreadData = {
      index, config, fd: nativeBinding().dupFd(spareFd), models: table.all().map((m) => m.describe()),
      ...(grpc ? { grpc: { fd: nativeBinding().dupFd(grpc.fd), address: grpc.address } } : {}),
    };
    const worker = new Worker(workerFile, { workerData: data, name: `torchpool-http-${index}` });
    let markReady!: () => void;
    let failStart!: (error: Error) => void;
    const ready = new Promise<void>((resolve, reject) => { markReady = resolve; failStart = reject; });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const thread: Thread = { index, worker, ready, exited };
    let markDrained: (() => void) | undefined;
    thread.drained = new Promise<void>((resolve) => { markDrained = resolve; });
    worker.on('message', (message: FromThread) => {
      switch (message.type) {
        case 'ready':
          markReady();
          break;
        case 'counters':
          waiting.get(message.id)?.(message.snapshot);
          waiting.delete(message.id);
          break;
        case 'updated':
          waiting.get(message.id)?.(undefined);
          waiting.delete(message.id);
          break;
        case 'control':
          runControl(message).then(
            (result) => send(thread, { type: 'control', id: message.id, result }),
            (error: unknown) => {
              const http = toHttpError(error);
              send(thread, { type: 'control', id: message.id, error: { status: http.status, message: http.message } });
            },
          );
          break;
        case 'metrics':
          renderMetrics().then(
            (text) => send(thread, { type: 'metrics', id: message.id, text }),
            (error: unknown) => send(thread, { type: 'metrics', id: message.id, error: (error as Error).message }),
          );
          break;
        case 'drained':
          markDrained?.();
          break;
      }
    });
    worker.on('error', (error) => {
      failStart(error);
      process.stderr.write(`torchpool serve: HTTP thread ${index} failed: ${error.message}\n`);
    });
    void exited.then((code) => {
      markDrained?.();
      if (threads.get(index) !== thread) return;
      threads.delete(index);
      if (state === 'ready') {
        // Replace it on the same socket; the others kept serving meanwhile.
        process.stderr.write(`torchpool serve: HTTP thread ${index} exited (code ${code}); starting a new one\n`);
        setTimeout(() => { if (state === 'ready') threads.set(index, start(index)); }, 100);
      }
    });
    return thread;
  };

  let shutdown: Promise<void> | undefined;
  const server: TorchpoolServer = {
    get models() { return new Map(table.latest().map((m) => [m.name, m])); },
    get state() { return state; },
    threads: count,
    repository,
    ...(grpc ? { grpcAddress: grpc.address } : {}),
    async listen() {
      const socket = net.createServer();
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.listen({ host: config.host, port: config.port }, resolve);
      });
      const address = formatAddress(socket.address() as net.AddressInfo);
      spareFd = await spareDescriptor(socket);
      for (let i = 0; i < count; i++) threads.set(i, start(i));
      try {
        await Promise.all([...threads.values()].map((t) => t.ready));
      } catch (error) {
        await server.shutdown();
        throw error;
      }
      return address;
    },
    shutdown() {
      shutdown ??= (async () => {
        state = 'draining';
        const running = [...threads.values()];
        for (const thread of running) send(thread, { type: 'drain' });
        // Each thread drains within drainTimeoutMs itself; this is the backstop for a stuck one.
        let timer: NodeJS.Timeout | undefined;
        const backstop = new Promise<void>((resolve) => { timer = setTimeout(resolve, config.drainTimeoutMs + 5000); });
        await Promise.race([Promise.all(running.map((t) => t.drained)), backstop]);
        clearTimeout(timer);
        await Promise.all(running.map(async (t) => {
          const exited = await Promise.race([t.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000))]);
          if (exited === undefined) await t.worker.terminate();
        }));
        threads.clear();
        if (grpc) fs.closeSync(grpc.fd);
        if (spareFd >= 0) fs.closeSync(spareFd);
        spareFd = -1;
        await repository.close();
        state = 'closed';
      })();
      return shutdown;
    },
  };
  return server;
}
