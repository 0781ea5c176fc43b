import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, InferencePool, type OutputTensor, TorchpoolError, modelPath, costInput } from '../support/torchpool.js';

const dist = path.resolve(__dirname, '../../dist/index.js');

describe('close()', () => {
  it('rejects queued requests with CLOSED, lets the running one finish, and later calls reject', async () => {
    // No batching: the queued requests would otherwise join the running one's batch.
    const pool = await InferencePool.create({ model: await modelPath('cost'), devices: 'cpu', threadsPerEngine: 1, batching: false });
    const running = pool.infer<OutputTensor>(costInput(20_000));
    const queued = Array.from({ length: 5 }, () => pool.infer(costInput(20_000)));
    // Let the engine take the first request before closing.
    while (!pool.stats().engines[0]!.busy) await new Promise((r) => setTimeout(r, 1));
    const closing = pool.close();
    expect(pool.close()).toBe(closing);
    const settled = await Promise.allSettled([running, ...queued]);
    await closing;
    expect(settled[0]!.status).toBe('fulfilled');
    for (const r of settled.slice(1)) {
      expect(r.status).toBe('rejected');
      const reason = (r as PromiseRejectedResult).reason as TorchpoolError;
      expect(reason).toBeInstanceOf(TorchpoolError);
      expect(reason.code).toBe(ErrorCodes.CLOSED);
    }
    const after = await pool.infer(costInput(1)).catch((e: TorchpoolError) => e);
    expect((after as TorchpoolError).code).toBe(ErrorCodes.CLOSED);
    expect(pool.stats().closed).toBe(true);
  });

  it('is what `await using` calls at scope exit', async () => {
    const pool = await InferencePool.create({ model: await modelPath('tiny'), devices: 'cpu' });
    await pool[Symbol.asyncDispose]();
    expect(pool.closed).toBe(true);
  });
});

describe('process and thread lifetime', () => {
  it('lets a process with a pool that was never closed exit when its work is done', async () => {
    const model = await modelPath('tiny');
    const script = `
      const { InferencePool } = require(${JSON.stringify(dist)});
      InferencePool.create({ model: ${JSON.stringify(model)}, devices: ['cpu', 'cpu'] }).then(async (pool) => {
        const out = await pool.infer({ data: new Float32Array(16), shape: [1, 16] });
        console.log('done', out.shape.join('x'));
      });`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(child.error).toBeUndefined();
    expect(child.stdout.trim()).toBe('done 1x16');
    expect(child.status).toBe(0);
  });

  it('keeps the process alive while a request is in flight', async () => {
    const model = await modelPath('cost');
    const script = `
      const { InferencePool } = require(${JSON.stringify(dist)});
      InferencePool.create({ model: ${JSON.stringify(model)}, devices: 'cpu' }).then((pool) => {
        pool.infer([{ data: new Float32Array(64), shape: [1, 64] }, 20000]).then(() => console.log('resolved'));
      });`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(child.stdout.trim()).toBe('resolved');
    expect(child.status).toBe(0);
  });

  it('works inside worker_threads, including a worker terminated mid-inference', async () => {
    const model = await modelPath('cost');
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { InferencePool } = require(workerData.dist);
      (async () => {
        const pool = await InferencePool.create({ model: workerData.model, devices: 'cpu', threadsPerEngine: 1 });
        const out = await pool.infer([{ data: new Float32Array(64).fill(0.5), shape: [1, 64] }, 10]);
        parentPort.postMessage(out.shape);
        if (workerData.close) { await pool.close(); parentPort.postMessage('closed'); }
        else { for (let i = 0; i < 4; i++) pool.infer([{ data: new Float32Array(64), shape: [1, 64] }, 50000]); parentPort.postMessage('busy'); }
      })();`;
    const run = (close: boolean) => new Promise<unknown[]>((resolve, reject) => {
      const messages: unknown[] = [];
      const worker = new Worker(source, { eval: true, workerData: { dist, model, close } });
      worker.on('message', (m) => {
        messages.push(m);
        if (m === 'closed') void worker.terminate();
        if (m === 'busy') setTimeout(() => void worker.terminate(), 20);
      });
      worker.on('error', reject);
      worker.on('exit', () => resolve(messages));
    });
    expect(await run(true)).toEqual([[1, 64], 'closed']);
    expect(await run(false)).toEqual([[1, 64], 'busy']);
    // The main thread's addon instance still works after the workers' environments are gone.
    const pool = await InferencePool.create({ model, devices: 'cpu' });
    expect((await pool.infer<OutputTensor>(costInput(1))).shape).toEqual([1, 64]);
    await pool.close();
  });

  it('survives a worker terminated while its close() is still joining the engines', async () => {
    // close() joins the engine threads on libuv's pool while the environment teardown of the
    // terminated worker joins them too: each thread must be joined exactly once.
    const model = await modelPath('cost');
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { InferencePool } = require(workerData.dist);
      (async () => {
        const pool = await InferencePool.create({ model: workerData.model, devices: ['cpu', 'cpu'], threadsPerEngine: 1, batching: false });
        for (let i = 0; i < 4; i++) pool.infer([{ data: new Float32Array(64), shape: [1, 64] }, 3000]).catch(() => {});
        await new Promise((r) => setTimeout(r, 2));
        pool.close();
        parentPort.postMessage('closing');
      })();`;
    for (let i = 0; i < 20; i++) {
      const worker = new Worker(source, { eval: true, workerData: { dist, model } });
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      await worker.terminate();
      await exited;
    }
    const pool = await InferencePool.create({ model, devices: 'cpu' });
    expect((await pool.infer<OutputTensor>(costInput(1))).shape).toEqual([1, 64]);
    await pool.close();
  });

  it('does not grow RSS without bound when pools are created and closed in a loop', async () => {
    const model = await modelPath('mlp');
    const cycle = async () => {
      const pool = await InferencePool.create({ model, devices: ['cpu', 'cpu'] });
      await pool.infer({ data: new Float32Array(256), shape: [1, 256] });
      await pool.close();
    };
    for (let i = 0; i < 5; i++) await cycle(); // warm allocator caches
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 25; i++) await cycle();
    const grownMb = (process.memoryUsage().rss - before) / 2 ** 20;
    // Each cycle loads two 5 MB replicas: a leak would add ~250 MB over 25 cycles.
    expect(grownMb).toBeLessThan(100);
  });
});
