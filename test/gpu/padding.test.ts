// Batching requests of different lengths on a CUDA engine (issue 23): the transformer encoder of
// test/fixtures/text in fp16, padded to length buckets and batch buckets, all warmed at load;
// each merged result equals the request run alone within 1e-2. Skipped without CUDA or without a
// Python torch to make the encoder.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferencePool, type InferencePoolOptions, type OutputTensor, buildInfo, listDevices, randomFloats } from '../support/torchpool.js';
import { encoderModel, torchPython } from '../support/python-models.js';

const gpus = listDevices().filter((d) => d.type === 'cuda');
const python = torchPython();
const reason = gpus.length === 0 ? `no CUDA device (${buildInfo().cuda ? 'CUDA build' : 'CPU-only libtorch build'})` : !python ? 'no Python with torch' : '';
const padding = { x: { axis: 1 }, mask: { axis: 1, value: 1 } };
const request = (length: number, seed: number) => ({
  x: { data: randomFloats(length * 32, seed), shape: [1, length, 32] },
  mask: { data: new Uint8Array(length), shape: [1, length], dtype: 'bool' as const },
});
const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i]!)), 0);

describe.skipIf(reason !== '')(`padded batches on CUDA engines${reason ? ` [skipped: ${reason}]` : ''}`, () => {
  let model: string;
  const pools: InferencePool[] = [];
  const open = async (options: Partial<InferencePoolOptions>) => {
    const pool = await InferencePool.create({ model, devices: ['cuda:0'], precision: 'fp16', ...options });
    pools.push(pool);
    return pool;
  };
  beforeAll(() => { model = encoderModel(python!); });
  afterAll(async () => { await Promise.all(pools.map((p) => p.close())); });

  it('merges fp16 requests of different lengths into warmed bucket shapes, each within 1e-2 of the request alone', async () => {
    const alone = await open({ batching: false });
    const pool = await open({
      padding, paddingBuckets: [16, 32, 64, 128], maxBatchSize: 8, maxQueueDelayMicros: 20_000,
      warmup: [{ inputs: { x: { shape: [1, 16, 32] }, mask: { shape: [1, 16], dtype: 'bool' } } }],
    });
    const engine = pool.stats().engines[0]!;
    expect(engine.firstShapes.warmup.shapes).toHaveLength(4 * 4); // batch buckets 1, 2, 4, 8 x 4 lengths
    const lengths = [8, 19, 33, 64, 100, 128, 5, 77];
    const merged = await Promise.all(lengths.map((l, i) => pool.infer<OutputTensor[]>(request(l, 300 + i))));
    const stats = pool.stats();
    expect(stats.meanBatchSize).toBeGreaterThan(1);
    expect(stats.engines[0]!.firstShapes.forwards).toBe(0);
    for (let i = 0; i < lengths.length; i++) {
      const [tokens, pooled] = merged[i]!;
      expect(tokens!.shape).toEqual([1, lengths[i], 32]);
      const [refTokens, refPooled] = await alone.infer<OutputTensor[]>(request(lengths[i]!, 300 + i));
      expect(maxAbsDiff(tokens!.data as Float32Array, refTokens!.data as Float32Array)).toBeLessThan(1e-2);
      expect(maxAbsDiff(pooled!.data as Float32Array, refPooled!.data as Float32Array)).toBeLessThan(1e-2);
    }
  });

  it('runs a request longer than the largest bucket alone, at its own length', async () => {
    const pool = await open({ padding, paddingBuckets: [16, 32], maxQueueDelayMicros: 20_000 });
    const before = pool.stats().batches;
    const [long, ...short] = await Promise.all([pool.infer<OutputTensor[]>(request(50, 1)), ...[10, 12, 20].map((l, i) => pool.infer<OutputTensor[]>(request(l, 2 + i)))]);
    expect(pool.stats().batches - before).toBe(2);
    expect(long![0]!.shape).toEqual([1, 50, 32]);
    expect(short.map((o) => o[0]!.shape[1])).toEqual([10, 12, 20]);
  });
});
