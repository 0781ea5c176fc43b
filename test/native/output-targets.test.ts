// pool.infer(inputs, { output }): outputs written into the caller's arrays, each request's rows
// into its own, by output name for tuples and dicts, and a misfit refused with INVALID_ARG.
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes, InferencePool, type InferencePoolOptions, type OutputTensor, maxRelativeError, modelPath, randomFloats } from '../support/torchpool.js';

describe('outputs into the caller\'s memory', () => {
  const pools: InferencePool[] = [];
  const open = async (name: string, options: Partial<InferencePoolOptions> = {}) => {
    const pool = await InferencePool.create({ model: await modelPath(name), devices: 'cpu', ...options });
    pools.push(pool);
    return pool;
  };
  afterAll(async () => { await Promise.all(pools.map((p) => p.close())); });
  const row = (seed: number, rows = 1) => ({ data: randomFloats(rows * 256, seed), shape: [rows, 256] });

  it('writes the output into the given array and resolves with it', async () => {
    const pool = await open('mlp', { batching: false });
    const output = new Float32Array(3 * 10).fill(Number.NaN);
    const result = await pool.infer<OutputTensor>(row(1, 3), { output });
    expect(result.data).toBe(output);
    expect(result.shape).toEqual([3, 10]);
    expect(result.dtype).toBe('float32');
    const plain = await pool.infer<OutputTensor>(row(1, 3));
    expect(Array.from(output)).toEqual(Array.from(plain.data as Float32Array));
  });

  it("puts each request's rows of a merged batch into its own array", async () => {
    const alone = await open('mlp', { batching: false });
    const pool = await open('mlp', { maxQueueDelayMicros: 50_000 });
    const outputs = Array.from({ length: 8 }, () => new Float32Array(10));
    const results = await Promise.all(outputs.map((output, i) => pool.infer<OutputTensor>(row(10 + i), { output })));
    expect(pool.stats().meanBatchSize).toBeGreaterThan(1);
    for (let i = 0; i < outputs.length; i++) {
      expect(results[i]!.data).toBe(outputs[i]);
      const expected = await alone.infer<OutputTensor>(row(10 + i));
      expect(maxRelativeError(outputs[i]!, expected.data as Float32Array)).toBeLessThan(1e-5);
    }
  });

  it('takes arrays by output name: output__0, output__1, ... of a tuple, the keys of a dict; the others come back as usual', async () => {
    const tuple = await open('tuple_out', { batching: false });
    const x = { data: randomFloats(2 * 8, 3), shape: [2, 8] };
    const plain = await tuple.infer<OutputTensor[]>(x);
    const second = new Float32Array(plain[1]!.data.length);
    const out = await tuple.infer<OutputTensor[]>(x, { output: { output__1: second } });
    expect(out[1]!.data).toBe(second);
    expect(Array.from(second)).toEqual(Array.from(plain[1]!.data as Float32Array));
    expect(Array.from(out[0]!.data as Float32Array)).toEqual(Array.from(plain[0]!.data as Float32Array));

    const dict = await open('dict_out', { batching: false });
    const plainDict = await dict.infer<Record<string, OutputTensor>>(x);
    const [name] = Object.keys(plainDict) as [string];
    const target = new Float32Array(plainDict[name]!.data.length);
    const outDict = await dict.infer<Record<string, OutputTensor>>(x, { output: { [name]: target } });
    expect(outDict[name]!.data).toBe(target);
    expect(Array.from(target)).toEqual(Array.from(plainDict[name]!.data as Float32Array));
  });

  it('refuses an array that does not fit: with nothing written the first time, before the request runs once the shape is known', async () => {
    const pool = await open('mlp', { batching: false });
    const short = new Float32Array(9).fill(Number.NaN);
    const first = await pool.infer(row(2), { output: short }).catch((e: { code: string; message: string }) => e);
    expect((first as { code: string }).code).toBe(ErrorCodes.INVALID_ARG);
    expect((first as { message: string }).message).toMatch(/Expected an array that holds the output float32 \[1, 10\] \(10 elements\) for options\.output but received a Float32Array of 9 elements/);
    expect(short.every(Number.isNaN)).toBe(true);
    await pool.infer(row(2), { output: new Float32Array(10) }); // the pool learns what this shape returns
    const requests = pool.stats().requests;
    for (const [output, message] of [
      [new Float32Array(11), /Expected a Float32Array of 10 elements \(1 rows of 10\) for options\.output but received a Float32Array of 11 elements/],
      [new Int32Array(10), /Expected a Float32Array of 10 elements .* but received a Int32Array of 10 elements/],
      [{ logits: new Float32Array(10) }, /Expected the name of one of the model's tensor outputs .* for options\.output\.logits/],
    ] as const) {
      const error = await pool.infer(row(2), { output: output as never }).catch((e: { code: string; message: string }) => e);
      expect((error as { code: string }).code).toBe(ErrorCodes.INVALID_ARG);
      expect((error as { message: string }).message).toMatch(message);
    }
    expect(pool.stats().requests).toBe(requests); // refused before anything ran
  });

  it.each([
    [5, /options\.output/],
    [{}, /options\.output/],
    [{ a: [1, 2] }, /options\.output\.a/],
    [new DataView(new ArrayBuffer(8)), /options\.output/],
  ])('refuses the option %s', async (output, message) => {
    const pool = await open('mlp');
    const error = await pool.infer(row(1), { output: output as never }).catch((e: { code: string; message: string }) => e);
    expect((error as { code: string }).code).toBe(ErrorCodes.INVALID_ARG);
    expect((error as { message: string }).message).toMatch(message);
  });
});
