// pool.inferBatch() (one large batch cut across engines) and pool.map() (a large job through
// the shared queue, in order, with bounded memory), plus what stats() reports about them.
import { describe, expect, it } from 'vitest';
import { ErrorCodes, InferencePool, type MapProgress, type OutputTensor, type TorchpoolError, maxRelativeError, modelPath, randomFloats } from '../support/torchpool.js';

describe('inferBatch()', () => {
  it('equals one forward over the whole batch, with the chunks spread over the engines', async () => {
    const pool = await InferencePool.create({ model: await modelPath('mlp'), devices: ['cpu', 'cpu'] });
    try {
      const x = { data: randomFloats(100 * 256, 3), shape: [100, 256] };
      const whole = await pool.infer<OutputTensor>(x);
      const before = pool.stats().engines.map((e) => e.requests);
      const split = await pool.inferBatch<OutputTensor>(x);
      expect(split.shape).toEqual([100, 10]);
      expect(split.dtype).toBe('float32');
      expect(maxRelativeError(split.data as Float32Array, whole.data as Float32Array)).toBeLessThan(1e-5);
      // Two chunks of 50, one per engine (unless one engine steals both while the other has
      // not been scheduled yet, which is the queue doing its job on a loaded machine).
      const ran = pool.stats().engines.map((e, i) => e.requests - before[i]!);
      expect(ran[0]! + ran[1]!).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('splits every tensor argument, passes the others to each chunk, and glues tuple outputs', async () => {
    const pool = await InferencePool.create({ model: await modelPath('tuple_out'), devices: ['cpu', 'cpu'] });
    try {
      const x = { data: randomFloats(10 * 4, 9), shape: [10, 4] };
      const [plus, times] = await pool.inferBatch<OutputTensor[]>([x], { chunkSize: 3 });
      expect(plus!.shape).toEqual([10, 4]);
      expect(Array.from(plus!.data as Float32Array)).toEqual(Array.from(x.data, (v) => Math.fround(v + 1)));
      expect(Array.from(times!.data as Float32Array)).toEqual(Array.from(x.data, (v) => v * 2));

      const cost = await InferencePool.create({ model: await modelPath('cost'), devices: 'cpu' });
      const y = { data: randomFloats(6 * 64, 2), shape: [6, 64] };
      const out = await cost.inferBatch<OutputTensor>([y, 4], { chunkSize: 4 });
      const ref = await cost.infer<OutputTensor>([y, 4]);
      expect(maxRelativeError(out.data as Float32Array, ref.data as Float32Array)).toBeLessThan(1e-6);
      await cost.close();
    } finally {
      await pool.close();
    }
  });

  it('refuses inputs without rows and models whose output loses them', async () => {
    const pool = await InferencePool.create({ model: await modelPath('batch_sum'), devices: 'cpu' });
    try {
      const e1 = (await pool.inferBatch({ data: new Float32Array(8), shape: [2, 4] }).catch((e: TorchpoolError) => e)) as TorchpoolError;
      expect(e1.code).toBe(ErrorCodes.INVALID_ARG);
      expect(e1.message).toMatch(/^inferBatch\(\) needs a model whose outputs keep the rows in dim 0, but output has shape \[4\] for a chunk of 2 rows/);
      const e2 = (await pool.inferBatch([3]).catch((e: TorchpoolError) => e)) as TorchpoolError;
      expect(e2.message).toBe('Expected at least one tensor to split along dim 0 for inputs but received an instance of Array');
    } finally {
      await pool.close();
    }
  });
});

describe('map()', () => {
  it('yields results in input order, reports a failing item by index, and reports progress', async () => {
    const pool = await InferencePool.create({ model: await modelPath('raises'), devices: ['cpu', 'cpu'] });
    try {
      const items = Array.from({ length: 300 }, (_, i) => ({ data: new Float32Array([i, i === 137 ? -1 : 1]), shape: [1, 2] }));
      const progress: MapProgress[] = [];
      const seen: number[] = [];
      for await (const result of pool.map<OutputTensor>(items, { concurrency: 16, onProgress: (p) => progress.push(p) })) {
        seen.push(result.index);
        if (result.index === 137) {
          expect(result.error?.code).toBe(ErrorCodes.FORWARD);
          expect(result.output).toBeUndefined();
        } else {
          expect(result.error).toBeUndefined();
          expect(Array.from(result.output!.data as Float32Array)).toEqual([2 * result.index, 2]);
        }
      }
      expect(seen).toEqual(items.map((_, i) => i));
      expect(progress).toHaveLength(300);
      expect(progress.at(-1)).toMatchObject({ completed: 300, failed: 1, total: 300 });
    } finally {
      await pool.close();
    }
  });

  it('pulls from an async iterable only as fast as results are consumed (bounded memory)', async () => {
    const pool = await InferencePool.create({ model: await modelPath('raises'), devices: 'cpu' });
    try {
      let pulled = 0;
      let consumed = 0;
      let worstAhead = 0;
      async function* source() {
        for (let i = 0; i < 200; i++) {
          pulled++;
          worstAhead = Math.max(worstAhead, pulled - consumed);
          yield { data: new Float32Array([i]), shape: [1, 1] };
        }
      }
      for await (const result of pool.map<OutputTensor>(source(), { concurrency: 8 })) {
        expect((result.output!.data as Float32Array)[0]).toBe(2 * result.index);
        consumed++;
        await new Promise((r) => setImmediate(r)); // a slow consumer
      }
      expect(consumed).toBe(200);
      expect(worstAhead).toBeLessThanOrEqual(9);
    } finally {
      await pool.close();
    }
  });

  it('withdraws queued items when the consumer stops early; the pool keeps serving', async () => {
    const pool = await InferencePool.create({ model: await modelPath('cost'), devices: 'cpu', batching: false });
    try {
      const items = Array.from({ length: 1000 }, () => [{ data: new Float32Array(64).fill(0.1), shape: [1, 64] }, 2000]);
      let n = 0;
      for await (const result of pool.map(items, { concurrency: 32 })) {
        expect(result.error).toBeUndefined();
        if (++n === 3) break;
      }
      await new Promise((r) => setTimeout(r, 20));
      expect(pool.stats().queueDepth).toBe(0);
      expect(pool.stats().requests).toBeLessThan(40);
      await pool.infer([{ data: new Float32Array(64), shape: [1, 64] }, 1]);
    } finally {
      await pool.close();
    }
  });
});

describe('stats()', () => {
  it('reports per-engine and pool counters with latency percentiles', async () => {
    const pool = await InferencePool.create({ model: await modelPath('cost'), devices: ['cpu', 'cpu'], maxBatchSize: 8 });
    try {
      await Promise.all(Array.from({ length: 50 }, (_, i) => pool.infer([{ data: new Float32Array(64).fill(0.1), shape: [1, 64] }, 100 + (i % 3)])));
      const stats = pool.stats();
      expect(stats.requests).toBe(50);
      expect(stats.completed).toBe(50);
      expect(stats.inFlight).toBe(0);
      expect(stats.queueDepth).toBe(0);
      expect(stats.healthyEngines).toBe(2);
      expect(stats.batching).toEqual({ enabled: true, maxBatchSize: 8, maxQueueDelayMicros: 0 });
      for (const engine of stats.engines) {
        expect(engine).toMatchObject({ device: 'cpu', healthy: true, inFlight: 0, queueDepth: 0, busy: false });
        expect(engine.utilization).toBeGreaterThanOrEqual(0);
        expect(engine.utilization).toBeLessThanOrEqual(1);
        expect(engine.meanBatchSize).toBeCloseTo(engine.requests / Math.max(1, engine.batches));
      }
      for (const l of [stats.latency.queueMs, stats.latency.computeMs, stats.latency.totalMs]) {
        expect(l.count).toBe(50);
        expect(l.p50).toBeGreaterThanOrEqual(0);
        expect(l.p50).toBeLessThanOrEqual(l.p95);
        expect(l.p95).toBeLessThanOrEqual(l.p99);
      }
      expect(stats.latency.totalMs.p50).toBeGreaterThanOrEqual(stats.latency.computeMs.p50 * 0.5);
      // Stage by stage: a CPU engine has no staging, launch or collect; its forward is device time.
      const stages = stats.latency.stages!;
      expect(Object.keys(stages)).toEqual(['queueMs', 'stagingMs', 'launchMs', 'deviceMs', 'collectMs', 'wakeMs', 'settleMs', 'forwardMs']);
      for (const l of Object.values(stages)) expect(l.count).toBe(50);
      expect(stages.stagingMs.p99).toBe(0);
      expect(stages.launchMs.p99).toBe(0);
      expect(stages.collectMs.p99).toBe(0);
      expect(stages.forwardMs.p99).toBe(0);
      expect(stages.deviceMs.p50).toBeCloseTo(stats.latency.computeMs.p50, 6);
      expect(stages.queueMs.p50).toBeCloseTo(stats.latency.queueMs.p50, 6);
    } finally {
      await pool.close();
    }
  });
});
