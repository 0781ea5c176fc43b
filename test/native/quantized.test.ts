// INT8 models quantized by PyTorch itself, on CPU engines: a dynamically quantized MLP
// (quantize_dynamic on its Linear layers) and a statically quantized conv net, against PyTorch's
// own outputs and against the float models they came from. Needs a Python with torch to make the
// fixtures (`npm test` installs Debian's python3-torch).
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildInfo, ErrorCodes, InferencePool, type OutputTensor } from '../support/torchpool.js';
import { quantizedFixtures, type QuantizedFixtures, torchPython } from '../support/python-models.js';

const python = torchPython();

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

describe.skipIf(!python)(`quantized (INT8) models on CPU engines${python ? '' : ' [skipped: no Python with torch to make them]'}`, () => {
  let fixtures: QuantizedFixtures;
  const pools: InferencePool[] = [];
  const open = async (name: string, options: object = {}) => {
    // The engine the fixtures were quantized for: their packed weights are prepared for it at load.
    const pool = await InferencePool.create({ model: path.join(fixtures.dir, name), devices: 'cpu', quantizedEngine: fixtures.engine, ...options });
    pools.push(pool);
    return pool;
  };
  const run = async (pool: InferencePool, name: string) => {
    const e = fixtures.models[name]!;
    return pool.infer<OutputTensor>({ data: Float32Array.from(e.input), shape: e.shape });
  };
  beforeAll(() => { fixtures = quantizedFixtures(python!); });
  afterAll(async () => { await Promise.all(pools.map((p) => p.close())); });

  it('says which quantized engines this libtorch has', () => {
    expect(buildInfo().quantizedEngines).toContain(fixtures.engine);
    expect(buildInfo().quantizedEngines).not.toContain('none');
  });

  it.each(['mlp_int8.pt', 'conv_int8.pt'])('runs %s exactly as PyTorch does, and knows it is quantized', async (name) => {
    const pool = await open(name);
    expect(pool.signature.quantized).toBe(true);
    const out = await run(pool, name);
    expect(maxAbsDiff(out.data as Float32Array, fixtures.models[name]!.output)).toBeLessThanOrEqual(1e-6);
    expect(pool.stats().processSettings.quantizedEngine).toBe(fixtures.engine);
  });

  it('stays close to the float model it was quantized from', async () => {
    for (const [int8, fp32] of [['mlp_int8.pt', 'mlp_fp32.pt'], ['conv_int8.pt', 'conv_fp32.pt']] as const) {
      const float = await open(fp32);
      expect(float.signature.quantized).toBe(false);
      const q = (await run(await open(int8), int8)).data as Float32Array;
      const f = (await run(float, fp32)).data as Float32Array;
      const scale = Math.max(...Array.from(f, Math.abs));
      expect(maxAbsDiff(q, f)).toBeLessThan(0.05 * scale);
      expect(maxAbsDiff(q, f)).toBeGreaterThan(0); // it really is another computation
    }
  });

  it('batches quantized requests: static quantization exactly, dynamic within its activation quantization', async () => {
    for (const [name, tolerance] of [['conv_int8.pt', 1e-6], ['mlp_int8.pt', 2e-2]] as const) {
      const e = fixtures.models[name]!;
      const per = e.shape.slice(1).reduce((a, b) => a * b, 1);
      const rows = Array.from({ length: e.shape[0]! }, (_, i) => ({ data: Float32Array.from(e.input.slice(i * per, (i + 1) * per)), shape: [1, ...e.shape.slice(1)] }));
      const merged = await open(name, { maxQueueDelayMicros: 100_000 });
      const outs = await Promise.all(rows.map((x) => merged.infer<OutputTensor>(x)));
      expect(merged.stats().meanBatchSize).toBeGreaterThan(1);
      const alone = await open(name, { batching: false });
      for (let i = 0; i < rows.length; i++) {
        const single = await alone.infer<OutputTensor>(rows[i]!);
        expect(maxAbsDiff(outs[i]!.data as Float32Array, single.data as Float32Array)).toBeLessThanOrEqual(tolerance);
      }
    }
  });

  it('refuses an engine this libtorch does not have, naming the ones it has', async () => {
    const error = await InferencePool.create({ model: path.join(fixtures.dir, 'mlp_int8.pt'), devices: 'cpu', quantizedEngine: 'tensorrt' }).catch((e: unknown) => e);
    expect((error as { code: string }).code).toBe(ErrorCodes.INVALID_ARG);
    expect((error as Error).message).toMatch(new RegExp(`one of this libtorch's quantized engines \\(.*'${fixtures.engine}'.*\\) for options\\.quantizedEngine`));
  });
});
