// pool.allocInput on the CPU: ordinary memory (with the reason), the same tensor contract as any
// input, clear errors. The page-locked path is in test/gpu/cuda-engine.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, InferencePool, type OutputTensor, TorchpoolError, modelPath } from '../support/torchpool.js';

describe('pool.allocInput', () => {
  let pool: InferencePool;
  beforeAll(async () => { pool = await InferencePool.create({ model: await modelPath('identity'), devices: 'cpu', maxBatchSize: 8 }); });
  afterAll(() => pool.close());

  it('gives a zero-filled tensor of the shape and dtype, in ordinary memory on a CPU pool, and says why', () => {
    const t = pool.allocInput([2, 3]);
    expect(t).toMatchObject({ shape: [2, 3], dtype: 'float32', pinned: false });
    expect(t.reason).toMatch(/no CUDA engine/);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(Array.from(t.data)).toEqual([0, 0, 0, 0, 0, 0]);
    const half = pool.allocInput([4], 'float16');
    expect(half.data).toBeInstanceOf(Uint16Array);
    expect(pool.allocInput([0, 5], 'int64').data).toEqual(new BigInt64Array(0));
  });

  it('works as an input, alone and merged into batches, and can be refilled and reused', async () => {
    const inputs = Array.from({ length: 8 }, () => pool.allocInput([1, 4]));
    for (let round = 0; round < 3; round++) {
      inputs.forEach((t, i) => t.data.set([i, round, -i, 0.5]));
      const outs = await Promise.all(inputs.map((t) => pool.infer<OutputTensor>(t)));
      outs.forEach((out, i) => expect(Array.from(out.data as Float32Array)).toEqual([i, round, -i, 0.5]));
    }
  });

  it('refuses a bad shape or dtype with INVALID_ARG and keeps the pool working', async () => {
    for (const [shape, dtype] of [[[-1], undefined], [[1.5], undefined], ['3', undefined], [[2 ** 40, 2 ** 20], undefined], [[2], 'complex64']] as const) {
      let error: unknown;
      try {
        pool.allocInput(shape as never, dtype as never);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TorchpoolError);
      expect((error as TorchpoolError).code).toBe(ErrorCodes.INVALID_ARG);
    }
    // Larger than a TypedArray can be: a coded error, not a RangeError.
    expect(() => pool.allocInput([2 ** 34])).toThrow(expect.objectContaining({ code: ErrorCodes.OUT_OF_MEMORY }));
    const out = await pool.infer<OutputTensor>({ data: Float32Array.from([1]), shape: [1] });
    expect(Array.from(out.data as Float32Array)).toEqual([1]);
  });

  it('throws CLOSED on a closed pool, while tensors made before stay usable memory', async () => {
    const other = await InferencePool.create({ model: await modelPath('identity'), devices: 'cpu' });
    const t = other.allocInput([3]);
    await other.close();
    expect(() => other.allocInput([3])).toThrow(expect.objectContaining({ code: ErrorCodes.CLOSED }));
    t.data.set([1, 2, 3]);
    const out = await pool.infer<OutputTensor>(t);
    expect(Array.from(out.data as Float32Array)).toEqual([1, 2, 3]);
  });
});
