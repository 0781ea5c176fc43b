import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DTYPES, type Dtype, InferencePool, type OutputTensor, modelPath } from '../support/torchpool.js';

let pool: InferencePool;
beforeAll(async () => { pool = await InferencePool.create({ model: await modelPath('identity'), devices: 'cpu' }); });
afterAll(() => pool.close());

const samples: Record<Dtype, () => ArrayLike<unknown>> = {
  float32: () => Float32Array.from([0, -1.5, 3.25, Number.MAX_VALUE, -0, Infinity]),
  float64: () => Float64Array.from([0, -1.5, 1e300, Number.MIN_VALUE, Math.PI, -Infinity]),
  float16: () => Uint16Array.from([0x0000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00]), // 0, 1, -2, max, tiny, inf
  int64: () => BigInt64Array.from([0n, -1n, 9007199254740993n, -(2n ** 63n), 2n ** 63n - 1n, 42n]),
  int32: () => Int32Array.from([0, -1, 2 ** 31 - 1, -(2 ** 31), 7, 8]),
  int16: () => Int16Array.from([0, -1, 32767, -32768, 5, 6]),
  int8: () => Int8Array.from([0, -1, 127, -128, 5, 6]),
  uint8: () => Uint8Array.from([0, 1, 255, 128, 5, 6]),
  bool: () => Uint8Array.from([0, 1, 1, 0, 0, 1]),
};

describe('dtype round trips through a forward', () => {
  for (const dtype of Object.keys(DTYPES) as Dtype[]) {
    it(`${dtype}`, async () => {
      const data = samples[dtype]();
      const out = await pool.infer<OutputTensor>({ data: data as never, shape: [2, 3], dtype });
      expect(out.dtype).toBe(dtype);
      expect(out.shape).toEqual([2, 3]);
      expect(out.data).toBeInstanceOf(DTYPES[dtype].array);
      expect(Array.from(out.data as ArrayLike<unknown>)).toEqual(Array.from(data));
      expect(out.data).not.toBe(data);
    });
  }

  it('reads arrays over a SharedArrayBuffer (and at an offset in one) in place, like any other', async () => {
    const shared = new SharedArrayBuffer(4 * 10);
    const all = new Float32Array(shared);
    all.set([9, 9, 1, 2, 3, 4, 5, 6, 9, 9]);
    const view = new Float32Array(shared, 8, 6);
    const out = await pool.infer<OutputTensor>({ data: view, shape: [2, 3] });
    expect(Array.from(out.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    const ints = await pool.infer<OutputTensor>({ data: new Int32Array(new SharedArrayBuffer(8)).fill(7), shape: [2] });
    expect(Array.from(ints.data as Int32Array)).toEqual([7, 7]);
  });

  it('infers the dtype from the TypedArray when none is given', async () => {
    const out = await pool.infer<OutputTensor>({ data: new Int32Array([1, 2]), shape: [2] });
    expect(out.dtype).toBe('int32');
    const half = await pool.infer<OutputTensor>({ data: new Uint16Array([0x3c00]), shape: [1] });
    expect(half.dtype).toBe('float16');
  });

  it('stores any non-zero byte of a bool tensor as true', async () => {
    const out = await pool.infer<OutputTensor>({ data: new Uint8Array([0, 2, 255]), shape: [3], dtype: 'bool' });
    expect(Array.from(out.data as Uint8Array)).toEqual([0, 1, 1]);
  });

  it('handles 0-d and empty tensors and TypedArrays that are views into larger buffers', async () => {
    const scalar = await pool.infer<OutputTensor>({ data: new Float32Array([7]), shape: [] });
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.data as Float32Array)).toEqual([7]);
    const empty = await pool.infer<OutputTensor>({ data: new Float32Array(0), shape: [0, 4] });
    expect(empty.shape).toEqual([0, 4]);
    expect((empty.data as Float32Array).length).toBe(0);
    const backing = new Float64Array([1, 2, 3, 4, 5, 6]);
    const view = await pool.infer<OutputTensor>({ data: backing.subarray(2, 5), shape: [3] });
    expect(Array.from(view.data as Float64Array)).toEqual([3, 4, 5]);
  });

  it('returns outputs that own their memory, small (copied) and large (lent by libtorch)', async () => {
    for (const n of [3, 100_000]) {
      const input = new Float32Array(n).fill(2);
      const first = await pool.infer<OutputTensor>({ data: input, shape: [n] });
      expect(first.data).not.toBe(input);
      (first.data as Float32Array).fill(-1); // must not leak into the input or later results
      expect(input.every((v) => v === 2)).toBe(true);
      const second = await pool.infer<OutputTensor>({ data: input, shape: [n] });
      expect((second.data as Float32Array).every((v) => v === 2)).toBe(true);
      expect((second.data as Float32Array).buffer).not.toBe((first.data as Float32Array).buffer);
    }
  });

  it('keeps input arrays alive while requests are in flight, even if the caller drops them', async () => {
    const pending = Array.from({ length: 50 }, (_, i) =>
      pool.infer<OutputTensor>({ data: new Float64Array(20_000).fill(i), shape: [20_000] }));
    (globalThis as { gc?: () => void }).gc?.();
    const outs = await Promise.all(pending);
    outs.forEach((out, i) => expect((out.data as Float64Array).every((v) => v === i)).toBe(true));
  });
});

describe('results of one merged batch', () => {
  it('each own exactly their bytes, whatever their dtype, in every batch a drain hands over', async () => {
    // 64 concurrent requests: the engine finishes several while the JS thread is busy, and
    // their small outputs reach JS together, in one slab.
    const dtypes = Object.keys(DTYPES) as Dtype[];
    const requests = Array.from({ length: 64 }, (_, i) => {
      const dtype = dtypes[i % dtypes.length] as Dtype;
      const data = samples[dtype]();
      return { dtype, data, out: pool.infer<OutputTensor>({ data: data as never, shape: [1, 6], dtype }) };
    });
    for (const { dtype, data, out } of requests) {
      const result = await out;
      expect(result.dtype).toBe(dtype);
      expect(result.shape).toEqual([1, 6]);
      expect(result.data).toBeInstanceOf(DTYPES[dtype].array);
      expect(Array.from(result.data as ArrayLike<unknown>)).toEqual(Array.from(data));
      // No other request's output is reachable through .buffer.
      expect(result.data.byteOffset).toBe(0);
      expect(result.data.buffer.byteLength).toBe(result.data.byteLength);
    }
  });
});
