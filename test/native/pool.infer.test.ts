import { setMaxListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes, InferencePool, type OutputTensor, TorchpoolError,
  linearLayer, maxRelativeError, modelPath, randomFloats, relu,
} from '../support/torchpool.js';

const pools: InferencePool[] = [];
async function open(name: string, options: Partial<Parameters<typeof InferencePool.create>[0]> = {}) {
  const pool = await InferencePool.create({ model: await modelPath(name), devices: 'cpu', ...options });
  pools.push(pool);
  return pool;
}
afterAll(async () => { await Promise.all(pools.map((p) => p.close())); });

function mlpReference(x: Float32Array): Float64Array {
  const h1 = relu(linearLayer(1024, 256, 1)(Float64Array.from(x)));
  const h2 = relu(linearLayer(1024, 1024, 2)(h1));
  return linearLayer(10, 1024, 3)(h2);
}

describe('pool.infer outputs', () => {
  let mlp: InferencePool;
  beforeAll(async () => { mlp = await open('mlp'); });

  it('computes the MLP exactly as an independent JS implementation', async () => {
    const batch = 3;
    const x = randomFloats(batch * 256, 7);
    const out = await mlp.infer<OutputTensor<'float32'>>({ data: x, shape: [batch, 256] });
    expect(out.shape).toEqual([batch, 10]);
    expect(out.dtype).toBe('float32');
    expect(out.data).toBeInstanceOf(Float32Array);
    for (let b = 0; b < batch; b++) {
      const expected = mlpReference(x.subarray(b * 256, (b + 1) * 256));
      expect(maxRelativeError(out.data.subarray(b * 10, (b + 1) * 10), expected)).toBeLessThan(1e-4);
    }
  });

  it('gives the same result with optimize: true (frozen, optimized for inference)', async () => {
    const optimized = await open('mlp', { optimize: true });
    const x = randomFloats(256, 11);
    const [a, b] = await Promise.all([
      mlp.infer<OutputTensor>({ data: x, shape: [1, 256] }),
      optimized.infer<OutputTensor>({ data: x, shape: [1, 256] }),
    ]);
    expect(maxRelativeError(b.data as Float32Array, a.data as Float32Array)).toBeLessThan(1e-4);
  });

  it('resolves many concurrent requests, each with its own result', async () => {
    const pool = await open('tiny', { devices: ['cpu', 'cpu'], threadsPerEngine: 1 });
    const tiny = linearLayer(16, 16, 1);
    const inputs = Array.from({ length: 400 }, (_, i) => randomFloats(16, i + 1));
    const outs = await Promise.all(inputs.map((x) => pool.infer<OutputTensor>({ data: x, shape: [1, 16] })));
    outs.forEach((out, i) => {
      expect(maxRelativeError(out.data as Float32Array, tiny(Float64Array.from(inputs[i]!)))).toBeLessThan(1e-5);
    });
    const stats = pool.stats();
    expect(stats.engines.reduce((n, e) => n + e.requests, 0)).toBe(400);
    expect(stats.inFlight).toBe(0);
  });

  it('passes positional arguments from an array and named ones from a record', async () => {
    const pool = await open('two_input');
    const x = randomFloats(2 * 8, 3), y = randomFloats(2 * 4, 4);
    const w = (i: number, j: number) => Math.sin(0.5 * i + 0.3 * j);
    const expected = new Float64Array(8);
    for (let b = 0; b < 2; b++) for (let j = 0; j < 4; j++) {
      let s = y[b * 4 + j]!;
      for (let i = 0; i < 8; i++) s += x[b * 8 + i]! * w(i, j);
      expected[b * 4 + j] = s;
    }
    const positional = await pool.infer<OutputTensor>([{ data: x, shape: [2, 8] }, { data: y, shape: [2, 4] }]);
    const named = await pool.infer<OutputTensor>({ y: { data: y, shape: [2, 4] }, x: { data: x, shape: [2, 8] } });
    expect(maxRelativeError(positional.data as Float32Array, expected)).toBeLessThan(1e-5);
    expect(named.data).toEqual(positional.data);
    expect(pool.signature.inputs.map((i) => i.name)).toEqual(['x', 'y']);
  });

  it('returns tuples as arrays and dicts as records', async () => {
    const tuple = await open('tuple_out');
    const dict = await open('dict_out');
    const x = { data: new Float32Array([1, -2, 3]), shape: [1, 3] };
    const [plus, times] = await tuple.infer<OutputTensor[]>(x);
    expect(Array.from(plus!.data as Float32Array)).toEqual([2, -1, 4]);
    expect(Array.from(times!.data as Float32Array)).toEqual([2, -4, 6]);
    const out = await dict.infer<Record<string, OutputTensor>>(x);
    expect(Object.keys(out).sort()).toEqual(['double', 'negated']);
    expect(Array.from(out.negated!.data as Float32Array)).toEqual([-1, 2, -3]);
  });

  it('takes int64 ids as a BigInt64Array (embedding lookup)', async () => {
    const pool = await open('embedding');
    const ids = BigInt64Array.from([0n, 5n, 999n, 42n, 7n, 7n]);
    const out = await pool.infer<OutputTensor>({ data: ids, shape: [2, 3] });
    expect(out.shape).toEqual([2, 16]);
    for (let b = 0; b < 2; b++) {
      const expected = new Float64Array(16);
      for (let j = 0; j < 16; j++) {
        for (let k = 0; k < 3; k++) expected[j] += Math.sin(0.1 * Number(ids[b * 3 + k]) + j) / 3;
      }
      expect(maxRelativeError((out.data as Float32Array).subarray(b * 16, (b + 1) * 16), expected)).toBeLessThan(1e-5);
    }
  });

  it('passes JS numbers as TorchScript int arguments (cost model)', async () => {
    const pool = await open('cost');
    const x = randomFloats(64, 5);
    const none = await pool.infer<OutputTensor>([{ data: x, shape: [1, 64] }, 0]);
    expect(none.data).toEqual(x);
    const some = await pool.infer<OutputTensor>([{ data: x, shape: [1, 64] }, 50]);
    expect(some.data).not.toEqual(x);
  });
});

describe('pool.infer errors', () => {
  let tiny: InferencePool;
  beforeAll(async () => { tiny = await open('tiny'); });
  const good = () => ({ data: new Float32Array(16), shape: [1, 16] });

  async function rejection(p: Promise<unknown>): Promise<TorchpoolError> {
    const error = await p.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(TorchpoolError);
    return error as TorchpoolError;
  }

  it.each([
    ['data length not matching shape', { data: new Float32Array(15), shape: [1, 16] }, ['inputs.data', '16 elements', '15 elements']],
    ['a negative dim', { data: new Float32Array(16), shape: [-1, 16] }, ['inputs.shape[0]', 'non-negative integer', '-1']],
    ['a non-integer dim', { data: new Float32Array(16), shape: [1.5, 16] }, ['inputs.shape[0]', '1.5']],
    ['an unsupported dtype', { data: new Float32Array(16), shape: [1, 16], dtype: 'complex64' }, ['inputs.dtype', 'complex64', 'float16']],
    ['data of the wrong TypedArray for its dtype', { data: new Float32Array(16), shape: [1, 16], dtype: 'int32' }, ['inputs.data', 'an Int32Array', 'Float32Array']],
    ['data that is not a TypedArray', { data: [1, 2], shape: [2] }, ['inputs.data', 'TypedArray', 'Array']],
    ['a shape that is not an array', { data: new Float32Array(16), shape: 16 }, ['inputs.shape', 'array', '16']],
  ])('rejects %s with INVALID_ARG naming the argument', async (_name, input, fragments) => {
    const error = await rejection(tiny.infer(input as never));
    expect(error.code).toBe(ErrorCodes.INVALID_ARG);
    expect(error.message).toMatch(/^Expected .* for .* but received /);
    for (const fragment of fragments) expect(error.message).toContain(fragment);
  });

  it('names nested arguments in the message', async () => {
    const error = await rejection(tiny.infer({ x: { data: new Float32Array(3), shape: [2, 2] } }));
    expect(error.message).toMatch(/inputs\.x\.data/);
  });

  it('rejects unknown, missing and surplus arguments against the forward signature', async () => {
    const unknown = await rejection(tiny.infer({ z: good() }));
    expect(unknown.code).toBe(ErrorCodes.INVALID_ARG);
    expect(unknown.message).toMatch(/no argument named 'z'/);
    const missing = await rejection(tiny.infer([]));
    expect(missing.message).toMatch(/missing input 'x'/);
    const surplus = await rejection(tiny.infer([good(), good()]));
    expect(surplus.message).toMatch(/takes 1 input\(s\) but received 2/);
  });

  it('rejects a shape mismatch inside the model with libtorch\'s message, and keeps serving', async () => {
    const error = await rejection(tiny.infer({ data: new Float32Array(10), shape: [2, 5] }));
    expect(error.code).toBe(ErrorCodes.FORWARD);
    expect(error.message.split('\n')[0]).toMatch(/shapes cannot be multiplied|size mismatch|mat1/);
    const ok = await tiny.infer<OutputTensor>(good());
    expect(ok.shape).toEqual([1, 16]);
  });

  it('rejects a TorchScript raise with its message; other requests in flight succeed', async () => {
    const pool = await open('raises');
    const results = await Promise.allSettled([
      pool.infer({ data: new Float32Array([1, 2]), shape: [2] }),
      pool.infer({ data: new Float32Array([1, -2]), shape: [2] }),
      pool.infer({ data: new Float32Array([3, 4]), shape: [2] }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const error = (results[1] as PromiseRejectedResult).reason as TorchpoolError;
    expect(error).toBeInstanceOf(TorchpoolError);
    expect(error.code).toBe(ErrorCodes.FORWARD);
    expect(error.message.split('\n')[0]).toMatch(/ValueError: torchpool test model: negative input/);
    expect(pool.stats().engines[0]!.failures).toBe(1);
  });

  it('settles each of hundreds of concurrent requests with its own outcome, round after round', async () => {
    // Results reach JS in batches (one per drain) and promises are found again by ticket, which
    // are reused once settled: every round mixes results, model errors, aborts and refusals.
    const pool = await open('raises');
    for (let round = 0; round < 5; round++) {
      const abort = new AbortController();
      setMaxListeners(50, abort.signal);
      const expected: string[] = [];
      const pending = Array.from({ length: 200 }, (_, i) => {
        const value = round * 1000 + i;
        if (i % 7 === 3) { expected.push('invalid'); return pool.infer({ data: new Float32Array(2), shape: [3] }); }
        if (i % 5 === 1) { expected.push('forward'); return pool.infer({ data: new Float32Array([value, -1]), shape: [1, 2] }); }
        if (i % 11 === 5) { expected.push('aborted'); return pool.infer({ data: new Float32Array([value, 1]), shape: [1, 2] }, { signal: abort.signal }); }
        expected.push(String(2 * value));
        return pool.infer<OutputTensor>({ data: new Float32Array([value, 1]), shape: [1, 2] });
      });
      abort.abort();
      const outcomes = (await Promise.allSettled(pending)).map((r) =>
        r.status === 'fulfilled' ? String((r.value as OutputTensor).data[0])
          : ({ [ErrorCodes.INVALID_ARG]: 'invalid', [ErrorCodes.FORWARD]: 'forward', [ErrorCodes.ABORTED]: 'aborted' } as Record<string, string>)[(r.reason as TorchpoolError).code] ?? (r.reason as Error).message);
      expect(outcomes).toEqual(expected);
    }
    const ok = await pool.infer<OutputTensor>({ data: new Float32Array([4, 5]), shape: [1, 2] });
    expect(Array.from(ok.data as Float32Array)).toEqual([8, 10]);
  });

  it('rejects inputs that are not a tensor, array or record', async () => {
    for (const bad of [42, 'x', null, new Float32Array(4)]) {
      const error = await rejection(tiny.infer(bad as never));
      expect(error.code).toBe(ErrorCodes.INVALID_ARG);
    }
  });
});
