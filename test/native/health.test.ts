// Engine health: repeated device errors (here out-of-memory, from the `faulty` model asking
// the CPU allocator for 4 PiB when its input holds a NaN) take an engine out of rotation.
import { describe, expect, it } from 'vitest';
import { ErrorCodes, type EngineUnhealthyEvent, InferencePool, type OutputTensor, type TorchpoolError, modelPath, codeOf } from '../support/torchpool.js';

const good = (v = 1) => ({ data: new Float32Array([v, v + 1, v + 2]), shape: [1, 3] });
const oom = () => ({ data: new Float32Array([1, NaN, 3]), shape: [1, 3] });
const negative = () => ({ data: new Float32Array([1, -1, 3]), shape: [1, 3] });

describe('engine health', () => {
  it('takes an engine out after repeated device errors; the other takes the work; then NO_DEVICE', async () => {
    const pool = await InferencePool.create({ model: await modelPath('faulty'), devices: ['cpu', 'cpu'], unhealthyAfter: 2 });
    const events: EngineUnhealthyEvent[] = [];
    pool.on('engineUnhealthy', (e) => events.push(e));
    try {
      // One request at a time, until one engine has had two device errors in a row.
      while (pool.stats().healthyEngines === 2) expect(await codeOf(pool.infer(oom()))).toBe(ErrorCodes.OUT_OF_MEMORY);
      await Promise.resolve();
      const stats = pool.stats();
      const out = stats.engines.find((e) => !e.healthy)!;
      const healthy = stats.engines.find((e) => e.healthy)!;
      expect(stats.healthyEngines).toBe(1);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ engine: out.index, device: 'cpu', instance: 0 });
      expect(events[0]!.error.code).toBe(ErrorCodes.OUT_OF_MEMORY);

      // Every good request now runs on the healthy engine, and right.
      const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.infer<OutputTensor>(good(i))));
      outs.forEach((o, i) => expect(Array.from(o.data as Float32Array)).toEqual([2 * i, 2 * i + 2, 2 * i + 4]));
      const after = pool.stats();
      expect(after.engines[out.index]!.requests).toBe(out.requests);
      expect(after.engines[healthy.index]!.requests).toBe(healthy.requests + 20);

      // Take out the second one too: nothing can run any more.
      while (pool.stats().healthyEngines === 1) await codeOf(pool.infer(oom()));
      const refused = (await pool.infer(good()).catch((e: TorchpoolError) => e)) as TorchpoolError;
      expect(refused.code).toBe(ErrorCodes.NO_DEVICE);
      expect(refused.message).toMatch(/^no healthy engine is left/);
      await Promise.resolve();
      expect(events.map((e) => e.engine).sort()).toEqual([0, 1]);
    } finally {
      await pool.close();
    }
  });

  it('counts only consecutive device errors: a success in between resets the count', async () => {
    const pool = await InferencePool.create({ model: await modelPath('faulty'), devices: 'cpu', unhealthyAfter: 2 });
    try {
      for (let i = 0; i < 4; i++) {
        expect(await codeOf(pool.infer(oom()))).toBe(ErrorCodes.OUT_OF_MEMORY);
        expect(await codeOf(pool.infer(good()))).toBe('ok');
      }
      expect(pool.stats().engines[0]!.healthy).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('does not hold a request error (a model that raises) against the engine', async () => {
    const pool = await InferencePool.create({ model: await modelPath('faulty'), devices: 'cpu', unhealthyAfter: 2 });
    try {
      for (let i = 0; i < 5; i++) expect(await codeOf(pool.infer(negative()))).toBe(ErrorCodes.FORWARD);
      expect(pool.stats().engines[0]).toMatchObject({ healthy: true, failures: 5 });
    } finally {
      await pool.close();
    }
  });

  it('isolates an out-of-memory request inside a batch', async () => {
    const pool = await InferencePool.create({ model: await modelPath('faulty'), devices: 'cpu', maxQueueDelayMicros: 200_000 });
    try {
      const codes = await Promise.all([good(1), good(2), oom(), good(3), negative(), good(4)].map((x) => codeOf(pool.infer(x))));
      expect(codes).toEqual(['ok', 'ok', ErrorCodes.OUT_OF_MEMORY, 'ok', ErrorCodes.FORWARD, 'ok']);
      expect(pool.stats().engines[0]!.healthy).toBe(true);
    } finally {
      await pool.close();
    }
  });
});
