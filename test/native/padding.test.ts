// Batching requests of different lengths (`padding`): a small transformer encoder with a
// key-padding mask, made by PyTorch itself; merged padded results equal each request run alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, InferencePool, type InferencePoolOptions, type OutputTensor, randomFloats } from '../support/torchpool.js';
import { encoderModel, torchPython } from '../support/python-models.js';

const python = torchPython();
const request = (length: number, seed: number) => ({
  x: { data: randomFloats(length * 32, seed), shape: [1, length, 32] },
  mask: { data: new Uint8Array(length), shape: [1, length], dtype: 'bool' as const },
});
const padding = { x: { axis: 1 }, mask: { axis: 1, value: 1 } };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

describe.skipIf(!python)(`batching requests of different lengths${python ? '' : ' [skipped: no Python with torch to make the encoder]'}`, () => {
  let model: string;
  const pools: InferencePool[] = [];
  const open = async (options: Partial<InferencePoolOptions> = {}) => {
    const pool = await InferencePool.create({ model, devices: 'cpu', ...options });
    pools.push(pool);
    return pool;
  };
  beforeAll(() => { model = encoderModel(python!); });
  afterAll(async () => { await Promise.all(pools.map((p) => p.close())); });

  it('merges requests of different lengths into one padded forward, and each result equals the request run alone', async () => {
    const alone = await open({ batching: false });
    const pool = await open({ padding, maxQueueDelayMicros: 100_000 });
    const lengths = [5, 9, 12, 3, 17, 8, 1, 16];
    const merged = await Promise.all(lengths.map((l, i) => pool.infer<OutputTensor[]>(request(l, i + 1))));
    const stats = pool.stats();
    expect(stats.meanBatchSize).toBeGreaterThan(1);
    expect(stats.engines[0]!.lengthPadding.requests).toBe(lengths.length);
    expect(stats.engines[0]!.lengthPadding.fraction).toBeGreaterThan(0);
    for (let i = 0; i < lengths.length; i++) {
      const [tokens, pooled] = merged[i]!;
      expect(tokens!.shape).toEqual([1, lengths[i], 32]); // cut back to its own length
      expect(pooled!.shape).toEqual([1, 32]);             // split by rows as usual
      const [refTokens, refPooled] = await alone.infer<OutputTensor[]>(request(lengths[i]!, i + 1));
      expect(maxAbsDiff(tokens!.data as Float32Array, refTokens!.data as Float32Array)).toBeLessThan(1e-5);
      expect(maxAbsDiff(pooled!.data as Float32Array, refPooled!.data as Float32Array)).toBeLessThan(1e-5);
    }
  });

  it('pads to the next length bucket, and runs a request longer than the largest alone', async () => {
    const alone = await open({ batching: false });
    const pool = await open({ padding, paddingBuckets: [8, 16, 32], maxQueueDelayMicros: 100_000 });
    const five = await pool.infer<OutputTensor[]>(request(5, 3));
    expect(five[0]!.shape).toEqual([1, 5, 32]);
    expect(pool.stats().engines[0]!.lengthPadding).toMatchObject({ requests: 1, positions: 5, paddedPositions: 8 });
    const before = pool.stats().batches;
    const [long, ...short] = await Promise.all([pool.infer<OutputTensor[]>(request(40, 4)), ...[10, 11, 12].map((l, i) => pool.infer<OutputTensor[]>(request(l, 10 + i)))]);
    expect(pool.stats().batches - before).toBe(2); // the 40 alone, the three others together
    expect(long![0]!.shape).toEqual([1, 40, 32]);
    const ref = await alone.infer<OutputTensor[]>(request(40, 4));
    expect(maxAbsDiff(long![1]!.data as Float32Array, ref[1]!.data as Float32Array)).toBeLessThan(1e-5);
    expect(short.map((o) => o[0]!.shape[1])).toEqual([10, 11, 12]);
  });

  it('warms every batch bucket at every length bucket, by input name, and then meets no new shape', async () => {
    const pool = await open({
      padding, paddingBuckets: [8, 16], batchBuckets: [1, 2, 4], maxBatchSize: 4, maxQueueDelayMicros: 20_000,
      warmup: [{ inputs: { x: { shape: [1, 8, 32] }, mask: { shape: [1, 8], dtype: 'bool' } } }],
    });
    const warmed = pool.stats().engines[0]!.firstShapes.warmup.shapes;
    expect(warmed).toHaveLength(6);
    expect(warmed).toContain('float32[4,16,32] bool[4,16]');
    await Promise.all(Array.from({ length: 12 }, (_, i) => pool.infer(request(1 + ((i * 5) % 16), 20 + i))));
    expect(pool.stats().engines[0]!.firstShapes.forwards).toBe(0);
  });

  it('refuses inputs padded together that disagree on their length', async () => {
    const pool = await open({ padding });
    const bad = { x: { data: randomFloats(7 * 32, 1), shape: [1, 7, 32] }, mask: { data: new Uint8Array(6), shape: [1, 6], dtype: 'bool' as const } };
    const error = await pool.infer(bad).catch((e: { code: string; message: string }) => e);
    expect((error as { code: string }).code).toBe(ErrorCodes.INVALID_ARG);
    expect((error as { message: string }).message).toMatch(/inputs\.mask has length 6 on its padded axis but inputs\.x has 7: inputs padded together must agree/);
  });

  it.each([
    [{ padding: { tokens: { axis: 1 } } }, /options\.padding\.tokens: the model's forward has no input named 'tokens' \(its inputs are 'x', 'mask'\)/],
    [{ padding: { x: { axis: 0 } } }, /options\.padding\.x\.axis/],
    [{ padding: { x: { axes: 1 } } }, /Unknown option 'axes' in options\.padding\.x \(did you mean 'axis'\?\)/],
    [{ paddingBuckets: [8] }, /options\.padding as well/],
    [{ padding, paddingBuckets: [0] }, /options\.paddingBuckets/],
  ])('refuses %j with INVALID_ARG', async (options, message) => {
    const error = await InferencePool.create({ model, devices: 'cpu', ...(options as object) }).catch((e: { code: string; message: string }) => e);
    expect((error as { code: string }).code).toBe(ErrorCodes.INVALID_ARG);
    expect((error as { message: string }).message).toMatch(message);
  });
});
