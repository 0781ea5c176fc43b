// Eager forwards on CUDA engines under dynamic batching (issue 20): merged batches are padded up
// to batch buckets by default, every bucket is warmed on the engine's own thread at load, and
// what still runs a shape for the first time under load is counted. Skipped without CUDA.
import { afterAll, describe, expect, it } from 'vitest';
import { InferencePool, type InferencePoolOptions, type OutputTensor, buildInfo, listDevices, maxRelativeError, modelPath, randomFloats } from '../support/torchpool.js';

const gpus = listDevices().filter((d) => d.type === 'cuda');
const reason = gpus.length === 0 ? `no CUDA device (${buildInfo().cuda ? 'CUDA build' : 'CPU-only libtorch build'})` : '';

describe.skipIf(gpus.length === 0)(`eager batch buckets on CUDA engines${reason ? ` [skipped: ${reason}]` : ''}`, () => {
  const pools: InferencePool[] = [];
  afterAll(async () => { await Promise.all(pools.map((p) => p.close())); });
  const open = async (name: string, options: Partial<InferencePoolOptions>) => {
    const pool = await InferencePool.create({ model: await modelPath(name), devices: ['cuda:0'], ...options });
    pools.push(pool);
    return pool;
  };

  const cases = [
    { name: 'mlp', item: [256], precision: 'fp32' as const, tolerance: 1e-5 },
    { name: 'resnet18', item: [3, 64, 64], precision: 'fp16' as const, tolerance: 1e-2 },
  ];
  for (const { name, item, precision, tolerance } of cases) {
    it(`pads merged eager batches of ${name} (${precision}) into the default buckets, warmed at load, without changing a row`, async () => {
      const alone = await open(name, { precision, batching: false });
      const pool = await open(name, { precision, maxBatchSize: 16, maxQueueDelayMicros: 20_000, warmup: [{ shape: [1, ...item] }] });
      const engine = pool.stats().engines[0]!;
      expect(engine.buckets.sizes).toEqual([1, 2, 4, 8, 16]);
      // Shapes as the model receives them: reduced precision casts on the device.
      const dtype = precision === 'fp16' ? 'float16' : 'float32';
      expect(engine.firstShapes.warmup.shapes).toEqual([1, 2, 4, 8, 16].map((b) => `${dtype}[${[b, ...item].join(',')}]`));
      expect(engine.cuda!.graphs.captured).toBe(0);
      const per = item.reduce((a, b) => a * b, 1);
      for (const size of [3, 5, 7, 11, 13]) {
        const inputs = Array.from({ length: size }, (_, i) => ({ data: randomFloats(per, 77 * size + i), shape: [1, ...item] }));
        const [merged, each] = await Promise.all([Promise.all(inputs.map((x) => pool.infer<OutputTensor>(x))), Promise.all(inputs.map((x) => alone.infer<OutputTensor>(x)))]);
        merged.forEach((o, i) => {
          expect(o.shape).toEqual(each[i]!.shape);
          expect(maxRelativeError(o.data as Float32Array, each[i]!.data as Float32Array)).toBeLessThan(tolerance);
        });
      }
      const after = pool.stats().engines[0]!;
      expect(after.buckets.paddedRows).toBeGreaterThan(0);
      expect(after.cuda!.graphs.paddedRows).toBe(after.buckets.paddedRows);
      // Every batch size the traffic formed was a warmed bucket.
      expect(after.firstShapes.forwards).toBe(0);
      expect(after.firstShapes.known).toBe(5);
    });
  }

  it('counts and times the forwards that meet a shape for the first time under load', async () => {
    const pool = await open('resnet18', { precision: 'fp16', batchBuckets: [] });
    const image = (rows: number) => ({ data: randomFloats(rows * 3 * 64 * 64, rows), shape: [rows, 3, 64, 64] });
    await pool.infer(image(3));
    await pool.infer(image(3));
    await pool.infer(image(5));
    const first = pool.stats().engines[0]!.firstShapes;
    expect(first.forwards).toBe(2);
    expect(first.recent.map((r) => r.shape)).toEqual(['float16[3,3,64,64]', 'float16[5,3,64,64]']);
    expect(first.maxMs).toBeGreaterThan(0);
    expect(first.totalMs).toBeGreaterThanOrEqual(first.maxMs);
    expect(first.warmup.shapes).toEqual([]);
  });

  it('warms on the engine thread: a cold start under 16 callers meets no new shape and no stall of a first batch size', async () => {
    const pool = await open('resnet18', { precision: 'fp16', channelsLast: true, maxBatchSize: 32, warmup: [{ shape: [1, 3, 64, 64] }] });
    const x = { data: randomFloats(3 * 64 * 64, 5), shape: [1, 3, 64, 64] };
    let left = 16 * 40;
    await Promise.all(Array.from({ length: 16 }, async () => { while (left-- > 0) await pool.infer(x); }));
    const engine = pool.stats().engines[0]!;
    expect(engine.firstShapes.forwards).toBe(0);
    expect(engine.meanBatchSize).toBeGreaterThan(1);
  });
});
