// One pool, many threads: pool.share() in the owner, InferencePool.attach(token) in real
// worker_threads. The same engines and queue serve every thread, requests from different threads
// merge into the same batches, each thread's promises settle on that thread, and threads that
// exit or are terminated mid-flight disturb nobody else.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes, InferencePool, type OutputTensor, type SharedPoolToken, codeOf, costInput, maxRelativeError, modelPath,
} from '../support/torchpool.js';

const dist = path.resolve(__dirname, '../../dist/index.js');
const workerFile = path.resolve(__dirname, '../support/shared-pool-worker.cjs');

function input(seed: number) {
  const data = new Float32Array(256);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(seed * 0.7 + i * 0.01);
  return { data, shape: [1, 256] };
}

const exits = new WeakMap<Worker, Promise<number>>();

function start(workerData: object): Worker {
  const worker = new Worker(workerFile, { workerData: { dist, ...workerData } });
  exits.set(worker, new Promise((resolve) => worker.once('exit', resolve)));
  return worker;
}

function nextMessage<T>(worker: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

function exited(worker: Worker): Promise<number> {
  return exits.get(worker) as Promise<number>;
}

describe('a pool shared by worker_threads', () => {
  let mlp: string;
  let cost: string;
  beforeAll(async () => {
    mlp = await modelPath('mlp');
    cost = await modelPath('cost');
  });

  describe('with an owner on the main thread', () => {
    let pool: InferencePool;
    let token: SharedPoolToken;
    beforeAll(async () => {
      pool = await InferencePool.create({ model: mlp, devices: 'cpu', maxQueueDelayMicros: 3000 });
      token = pool.share();
    });
    afterAll(() => pool.close());

    it('gives the same token every time, as plain data that structured clone keeps', () => {
      expect(pool.share()).toEqual(token);
      expect(structuredClone(token)).toEqual(token);
      expect(token).toMatchObject({ kind: 'torchpool.SharedPool', pid: process.pid, plan: { devices: ['cpu'] } });
      expect(pool.owner).toBe(true);
    });

    it('serves 4 threads at once with the results of the owner, and merges their requests into shared batches', async () => {
      const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
      const reference = new Map<number, number[]>();
      for (const seed of seeds) reference.set(seed, Array.from((await pool.infer<OutputTensor>(input(seed))).data.subarray(0, 10) as Float32Array));
      const before = pool.stats();
      const workers = Array.from({ length: 4 }, (_, w) => start({ mode: 'sequential', token, requests: 60, seeds: seeds.map((s) => seeds[(s + w) % seeds.length]) }));
      const reports = await Promise.all(workers.map((w) => nextMessage<{ outputs: { seed: number; data: number[] }[]; stats: { threads: unknown[] } }>(w)));
      await Promise.all(workers.map(exited));
      for (const report of reports) {
        expect(report.outputs).toHaveLength(60);
        for (const { seed, data } of report.outputs) {
          const expected = reference.get(seed)!;
          data.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
        }
        // Every attached thread sees the whole pool, with itself among the threads.
        expect(report.stats.threads.length).toBeGreaterThanOrEqual(2);
      }
      const after = pool.stats();
      const requests = after.requests - before.requests;
      const batches = after.batches - before.batches;
      expect(requests).toBe(240);
      // Each thread had one request in flight at a time: a batch of two or more mixed threads.
      expect(requests / batches).toBeGreaterThan(1.2);
      // Detached threads left stats().threads; their counts stay in the totals.
      expect(after.threads.map((t) => t.owner)).toEqual([true]);
      expect(after.completed - before.completed).toBe(240);
    });

    it('survives 100 workers terminated with requests in flight, and serves this thread meanwhile', async () => {
      const x = input(3);
      const expected = (await pool.infer<OutputTensor>(x)).data as Float32Array;
      let stop = false;
      let served = 0;
      let worst = 0;
      const steady = (async () => {
        while (!stop) {
          // Merged with the workers' rows, a forward may round differently in the last bits.
          worst = Math.max(worst, maxRelativeError((await pool.infer<OutputTensor>(x)).data as Float32Array, expected));
          served++;
        }
      })();
      for (let i = 0; i < 100; i++) {
        const worker = start({ mode: i % 10 === 9 ? 'exit' : 'flood', token, seeds: [i] });
        if (i % 10 !== 9) {
          await nextMessage(worker);
          await worker.terminate();
        } else {
          await exited(worker);
        }
      }
      stop = true;
      await steady;
      expect(served).toBeGreaterThan(0);
      expect(worst).toBeLessThan(1e-5);
      const stats = pool.stats();
      expect(stats.threads.map((t) => t.owner)).toEqual([true]);
      expect(stats.inFlight).toBe(0);
      expect(stats.queueDepth).toBe(0);
      expect(maxRelativeError((await pool.infer<OutputTensor>(x)).data as Float32Array, expected)).toBeLessThan(1e-5);
    }, 120_000);

    it('lets an attached pool close without stopping the engines for anyone else', async () => {
      const attached = await InferencePool.attach(token);
      expect(attached.owner).toBe(false);
      expect(attached.devices).toEqual(['cpu']);
      expect(attached.signature).toEqual(pool.signature);
      const outs = await Promise.all([attached.infer(input(1)), attached.infer(input(2))]);
      expect(outs).toHaveLength(2);
      expect(pool.stats().threads).toHaveLength(2); // the owner and this second client of the same thread
      await attached.close();
      expect(await codeOf(attached.infer(input(1)))).toBe(ErrorCodes.CLOSED);
      expect((await pool.infer<OutputTensor>(input(1))).shape).toEqual([1, 10]);
      expect(pool.stats().threads).toHaveLength(1);
    });
  });

  it('rejects attached threads\' queued requests with CLOSED when the owner closes, and refuses new attachments', async () => {
    const pool = await InferencePool.create({ model: cost, devices: 'cpu', threadsPerEngine: 1, batching: false });
    const token = pool.share();
    // Keep the one engine busy (about a second here) so the worker's requests stay queued.
    const running = pool.infer(costInput(60_000));
    const worker = start({ mode: 'hold', token, iters: 10 });
    const messages: unknown[] = [];
    const result = new Promise<{ ended: string[]; after: string; closed: boolean }>((resolve) => {
      worker.on('message', (m) => {
        messages.push(m);
        if (messages.length === 2) resolve(m as { ended: string[]; after: string; closed: boolean });
      });
    });
    // The worker's requests reach the queue before its 'queued' message reaches this thread.
    while (pool.stats().queueDepth < 8 || messages.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(messages).toEqual(['queued']);
    await pool.close();
    expect(await codeOf(running)).toBe('ok'); // the running forward finished
    const report = await result;
    expect(report.ended).toEqual(Array(8).fill(ErrorCodes.CLOSED));
    expect(report.after).toBe(ErrorCodes.CLOSED);
    expect(report.closed).toBe(true);
    await exited(worker);
    const late = await InferencePool.attach(token).catch((e: { code: string }) => e.code);
    expect(late).toBe(ErrorCodes.CLOSED);
  });

  it('closes the engines for everyone when the owner thread exits', async () => {
    const owner = start({ mode: 'own', model: mlp });
    const { token } = await nextMessage<{ token: SharedPoolToken }>(owner);
    const attached = await InferencePool.attach(token);
    expect((await attached.infer<OutputTensor>(input(1))).shape).toEqual([1, 10]);
    owner.postMessage('exit');
    await exited(owner);
    expect(await codeOf(attached.infer(input(1)))).toBe(ErrorCodes.CLOSED);
    expect(attached.closed).toBe(true);
    expect(await InferencePool.attach(token).catch((e: { code: string }) => e.code)).toBe(ErrorCodes.CLOSED);
    await attached.close();
  });

  it('refuses tokens that are not from pool.share() in this process', async () => {
    const pool = await InferencePool.create({ model: mlp, devices: 'cpu' });
    const token = pool.share();
    const codeOfAttach = (t: unknown) => InferencePool.attach(t as SharedPoolToken).then(() => 'ok', (e: { code: string; message: string }) => e.code);
    expect(await codeOfAttach({ ...token, pid: token.pid + 1 })).toBe(ErrorCodes.INVALID_ARG);
    expect(await codeOfAttach({ ...token, kind: 'other' })).toBe(ErrorCodes.INVALID_ARG);
    expect(await codeOfAttach({ ...token, id: 1e9 })).toBe(ErrorCodes.CLOSED);
    expect(await codeOfAttach(42)).toBe(ErrorCodes.INVALID_ARG);
    await pool.close();
    expect(() => pool.share()).toThrow(expect.objectContaining({ code: ErrorCodes.CLOSED }));
  });
});
