// Right by default under real traffic, as far as a CPU can show it: closed option objects (a
// typo is an error that names the closest option), batch buckets and their warmup on each
// engine's own thread, first-time shapes counted under load, TorchScript executor options, the
// OpenMP wait defaults, and batches that leave the JS thread room to turn results around.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes, InferencePool, type InferencePoolOptions, type OutputTensor, maxRelativeError, modelPath, randomFloats,
} from '../support/torchpool.js';

const root = path.resolve(__dirname, '../..');

async function rejection(promise: Promise<unknown> | (() => unknown)): Promise<{ code: string; message: string }> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error('expected a rejection');
}

/** Runs a script in a fresh Node process (process-wide settings stay out of this one). */
function inChild(script: string, env: NodeJS.ProcessEnv = {}): unknown {
  const clean = { ...process.env };
  for (const k of ['OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'KMP_BLOCKTIME']) delete clean[k];
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, env: { ...clean, ...env }, encoding: 'utf8' });
  if (child.status !== 0) throw new Error(child.stderr);
  return JSON.parse(child.stdout.trim().split('\n').pop() as string);
}

describe('defaults under real traffic (CPU)', () => {
  const pools: InferencePool[] = [];
  const open = async (options: Partial<InferencePoolOptions> & { model?: string } = {}) => {
    const pool = await InferencePool.create({ model: await modelPath('mlp'), devices: 'cpu', ...options });
    pools.push(pool);
    return pool;
  };
  afterAll(async () => { await Promise.all(pools.map((p) => p.close())); });
  const row = (seed: number) => ({ data: randomFloats(256, seed), shape: [1, 256] });

  describe('option objects are closed', () => {
    it('refuses a misspelled create() option, names it and suggests the closest one', async () => {
      const error = await rejection(InferencePool.create({ model: await modelPath('mlp'), devices: 'cpu', maxBatchSzie: 8 } as InferencePoolOptions));
      expect(error.code).toBe(ErrorCodes.INVALID_ARG);
      expect(error.message).toMatch(/^Unknown option 'maxBatchSzie' in options \(did you mean 'maxBatchSize'\?\); the options are 'model', /);
      const far = await rejection(InferencePool.create({ model: await modelPath('mlp'), frobnicate: true } as InferencePoolOptions));
      expect(far.message).toMatch(/^Unknown option 'frobnicate' in options; the options are/);
    });

    it('refuses unknown options of infer(), inferBatch(), map() and close(), and the pool keeps serving', async () => {
      const pool = await open();
      const bad = [
        [() => pool.infer(row(1), { timeoutMS: 5 } as never), "'timeoutMS'", "'timeoutMs'"],
        [() => pool.infer(row(1), { priorty: 'high' } as never), "'priorty'", "'priority'"],
        [() => pool.inferBatch({ data: randomFloats(512, 2), shape: [2, 256] }, { chunksize: 1 } as never), "'chunksize'", "'chunkSize'"],
        [() => pool.map([row(1)], { concurency: 2 } as never), "'concurency'", "'concurrency'"],
        [() => pool.close({ drian: true } as never), "'drian'", "'drain'"],
      ] as const;
      for (const [call, key, suggestion] of bad) {
        const error = await rejection(call);
        expect(error.code).toBe(ErrorCodes.INVALID_ARG);
        expect(error.message).toContain(`Unknown option ${key} in options (did you mean ${suggestion}?)`);
      }
      expect(pool.closed).toBe(false);
      expect((await pool.infer<OutputTensor>(row(1), { timeoutMs: 5000 })).shape).toEqual([1, 10]);
    });
  });

  describe('batch buckets', () => {
    it('pads nothing on CPU engines unless buckets are given', async () => {
      const pool = await open({ maxBatchSize: 16 });
      expect(pool.stats().engines[0]!.buckets).toEqual({ sizes: [], paddedBatches: 0, paddedRows: 0, oversized: 0 });
    });

    it('warms every bucket on each engine at load, pads merged batches up to a bucket without changing a row, and meets no new shape under load', async () => {
      const reference = await open({ batching: false });
      const pool = await open({
        devices: ['cpu', 'cpu'], threadsPerEngine: 1, maxBatchSize: 8, batchBuckets: [8, 1, 4], maxQueueDelayMicros: 50_000,
        warmup: [{ shape: [1, 256] }],
      });
      const before = pool.stats();
      for (const engine of before.engines) {
        expect(engine.buckets.sizes).toEqual([1, 4, 8]);
        expect(engine.firstShapes.warmup.shapes).toEqual(['float32[1,256]', 'float32[4,256]', 'float32[8,256]']);
        expect(engine.firstShapes.warmup.ms).toBeGreaterThan(0);
        expect(engine.firstShapes.forwards).toBe(0);
      }
      expect(before.loadMs).toBeGreaterThan(0);
      for (const size of [2, 3, 5, 7]) {
        const inputs = Array.from({ length: size }, (_, i) => row(100 * size + i));
        const [merged, alone] = await Promise.all([Promise.all(inputs.map((x) => pool.infer<OutputTensor>(x))), Promise.all(inputs.map((x) => reference.infer<OutputTensor>(x)))]);
        merged.forEach((o, i) => {
          expect(o.shape).toEqual([1, 10]);
          expect(maxRelativeError(o.data as Float32Array, alone[i]!.data as Float32Array)).toBeLessThan(1e-5);
        });
      }
      // A single request of 3 rows is a batch of 3: padded to 4.
      const three = await pool.infer<OutputTensor>({ data: randomFloats(3 * 256, 9), shape: [3, 256] });
      expect(three.shape).toEqual([3, 10]);
      const after = pool.stats();
      const padded = after.engines.reduce((n, e) => n + e.buckets.paddedRows, 0);
      expect(padded).toBeGreaterThan(0);
      expect(after.engines.reduce((n, e) => n + e.firstShapes.forwards, 0)).toBe(0);

      // Larger than the largest bucket: runs at its own size, counted as oversized and as a first-time shape.
      const twelve = await pool.infer<OutputTensor>({ data: randomFloats(12 * 256, 10), shape: [12, 256] });
      expect(twelve.shape).toEqual([12, 10]);
      const last = pool.stats().engines;
      expect(last.reduce((n, e) => n + e.buckets.oversized, 0)).toBe(1);
      const first = last.find((e) => e.firstShapes.forwards === 1)!;
      expect(first.firstShapes.recent.map((r) => r.shape)).toEqual(['float32[12,256]']);
      expect(first.firstShapes.maxMs).toBeGreaterThan(0);
      expect(first.firstShapes.known).toBe(4);
    });

    it('never pads a model whose output is not per row, and says why', async () => {
      const pool = await open({ model: await modelPath('batch_sum'), batchBuckets: [1, 4, 8], maxBatchSize: 8, warmup: [{ shape: [1, 4] }] });
      const out = await pool.infer<OutputTensor>({ data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), shape: [3, 4] });
      expect(Array.from(out.data as Float32Array)).toEqual([15, 18, 21, 24]);
      const buckets = pool.stats().engines[0]!.buckets;
      expect(buckets.paddedRows).toBe(0);
      expect(buckets.offReason).toMatch(/^padding off: the model's output does not keep the batch's rows/);
    });
  });

  describe('TorchScript executor options', () => {
    it('applies optimizedExecution on every engine thread of the pool, and only there', async () => {
      const off = await open({ devices: ['cpu', 'cpu'], threadsPerEngine: 1, torchscript: { optimizedExecution: false }, warmup: [{ shape: [2, 256] }] });
      const on = await open();
      expect(off.stats().engines.map((e) => e.optimizedExecution)).toEqual([false, false]);
      expect(on.stats().engines[0]!.optimizedExecution).toBe(true);
      const [a, b] = await Promise.all([off.infer<OutputTensor>(row(5)), on.infer<OutputTensor>(row(5))]);
      expect(maxRelativeError(a.data as Float32Array, b.data as Float32Array)).toBeLessThan(1e-5);
    });

    it('applies the process-wide ones once, and warns a later pool that asks otherwise', () => {
      const result = inChild(`
        import torchpool from './dist/index.js';
        const { InferencePool, builtinModelPath } = torchpool;
        const warnings = [];
        process.on('warning', (w) => warnings.push(w.message));
        const model = await builtinModelPath('mlp', { cacheDir: '.cache/models' });
        const first = await InferencePool.create({ model, devices: 'cpu', torchscript: { profilingExecutor: false, tensorExprFuser: false } });
        const second = await InferencePool.create({ model, devices: 'cpu', torchscript: { profilingExecutor: true } });
        await second.infer({ data: new Float32Array(256), shape: [1, 256] });
        await new Promise((r) => setImmediate(r));
        console.log(JSON.stringify({ settings: second.stats().processSettings, warnings }));
        await Promise.all([first.close(), second.close()]);
      `) as { settings: Record<string, unknown>; warnings: string[] };
      expect(result.settings).toMatchObject({ profilingExecutor: false, tensorExprFuser: false });
      expect(result.warnings).toEqual([expect.stringMatching(/torchscript\.profilingExecutor: this pool asked for true, but an earlier pool of this process set it to false/)]);
    });
  });

  describe('OpenMP threads do not keep spinning on the cores the JS thread needs', () => {
    const script = `
      import torchpool from './dist/index.js';
      const { InferencePool, builtinModelPath } = torchpool;
      const pool = await InferencePool.create({ model: await builtinModelPath('mlp', { cacheDir: '.cache/models' }), devices: 'cpu' });
      console.log(JSON.stringify({ openmp: pool.stats().processSettings.openmp, env: process.env.OMP_WAIT_POLICY ?? null }));
      await pool.close();
    `;
    it('makes them spin briefly (libgomp) or not at all (Intel OpenMP) before they sleep, by default', () => {
      // active: only so that libgomp does not cut the spin to 100 once threads outnumber cores.
      expect(inChild(script)).toEqual({ openmp: { setByTorchpool: ['OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'KMP_BLOCKTIME'], OMP_WAIT_POLICY: 'active', GOMP_SPINCOUNT: '1000', KMP_BLOCKTIME: '0' }, env: 'active' });
    });

    it("keeps the user's own settings", () => {
      expect(inChild(script, { OMP_WAIT_POLICY: 'active' })).toEqual({ openmp: { setByTorchpool: [], OMP_WAIT_POLICY: 'active' }, env: 'active' });
      expect(inChild(script, { GOMP_SPINCOUNT: '300000' })).toEqual({ openmp: { setByTorchpool: ['KMP_BLOCKTIME'], GOMP_SPINCOUNT: '300000', KMP_BLOCKTIME: '0' }, env: null });
      expect(inChild(script, { KMP_BLOCKTIME: '200' })).toEqual({ openmp: { setByTorchpool: ['OMP_WAIT_POLICY', 'GOMP_SPINCOUNT'], OMP_WAIT_POLICY: 'active', GOMP_SPINCOUNT: '1000', KMP_BLOCKTIME: '200' }, env: 'active' });
    });
  });

  it('keeps work overlapping with the JS turnaround when maxBatchSize holds every caller', async () => {
    // 64 callers and maxBatchSize 64 on one CPU engine: taking all 64 at once leaves the engine
    // idle while the JS thread settles and resubmits them, and the first one back runs alone.
    const pool = await open({ maxBatchSize: 64 });
    const x = row(7);
    let left = 64 * 60;
    await Promise.all(Array.from({ length: 64 }, async () => { while (left-- > 0) await pool.infer(x); }));
    const { meanBatchSize, batches } = pool.stats();
    expect(batches).toBeGreaterThan(60);
    expect(meanBatchSize).toBeLessThanOrEqual(40);
    expect(meanBatchSize).toBeGreaterThanOrEqual(8);
  });
});
