// Execution options on CPU engines: precision (bf16 runs on libtorch's CPU kernels), output
// dtype, warmup, and the checks every option gets before anything reaches native code.
import { afterAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes, InferencePool, type InferencePoolOptions, type OutputTensor, maxRelativeError, modelPath, randomFloats,
} from '../support/torchpool.js';

describe('execution options on CPU engines', () => {
  const pools: InferencePool[] = [];
  const open = async (options: Partial<InferencePoolOptions> = {}) => {
    const pool = await InferencePool.create({ model: await modelPath('mlp'), devices: 'cpu', ...options });
    pools.push(pool);
    return pool;
  };
  afterAll(async () => { await Promise.all(pools.map((p) => p.close())); });
  const x = { data: randomFloats(4 * 256, 31), shape: [4, 256] };

  it('runs bf16 weights within 1e-2 of fp32 and returns float32 by default', async () => {
    const reference = await (await open()).infer<OutputTensor>(x);
    const bf16 = await (await open({ precision: 'bf16' })).infer<OutputTensor>(x);
    expect(bf16.dtype).toBe('float32');
    expect(maxRelativeError(bf16.data as Float32Array, reference.data as Float32Array)).toBeLessThan(1e-2);
    expect(maxRelativeError(bf16.data as Float32Array, reference.data as Float32Array)).toBeGreaterThan(0);
  });

  it("returns float16 when outputDtype is 'float16'", async () => {
    const out = await (await open({ precision: 'bf16', outputDtype: 'float16' })).infer<OutputTensor>(x);
    expect(out.dtype).toBe('float16');
    expect(out.data).toBeInstanceOf(Uint16Array);
  });

  it('runs warmup inputs at load and reports a warmup that does not fit', async () => {
    const pool = await open({ warmup: [{ shape: [1, 256] }, { shape: [8, 256] }] });
    expect(pool.stats().requests).toBe(0); // warmup is not counted as traffic
    const error = await InferencePool.create({ model: await modelPath('mlp'), devices: 'cpu', warmup: [{ shape: [1, 3] }] }).catch((e: unknown) => e);
    expect((error as { code: string }).code).toBe(ErrorCodes.FORWARD);
    expect((error as Error).message).toMatch(/^warmup failed/);
  });

  it('applies process-wide settings once: a later pool that asks otherwise is warned and changes nothing', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const first = await open({ cudnnBenchmark: true, allowTF32: false });
      expect(first.stats().processSettings).toMatchObject({ cudnnBenchmark: true, allowTF32: false });
      const same = await open({ cudnnBenchmark: true });
      const other = await open({ cudnnBenchmark: false, allowTF32: false });
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => (w as { code?: string }).code)).toEqual(['TORCHPOOL_PROCESS_SETTING']);
      expect(warnings[0]!.message).toMatch(/cudnnBenchmark: this pool asked for false, but an earlier pool of this process set it to true/);
      expect(other.stats().processSettings).toMatchObject({ cudnnBenchmark: true, allowTF32: false });
      expect(same.stats().processSettings.cudnnBenchmark).toBe(true);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('has no cuda section in the stats of CPU engines', async () => {
    const pool = await open();
    await pool.infer(x);
    expect(pool.stats().engines[0]!.cuda).toBeUndefined();
  });

  it.each([
    [{ precision: 'fp8' }, /options\.precision/],
    [{ precision: 'autocast' }, /CPU engines/],
    [{ outputDtype: 'int8' }, /options\.outputDtype/],
    [{ pipelineDepth: 0 }, /options\.pipelineDepth/],
    [{ fillWhileBusy: 'no' }, /options\.fillWhileBusy/],
    [{ pinnedMemoryBytes: -1 }, /options\.pinnedMemoryBytes/],
    [{ maxCudaGraphs: 1.5 }, /options\.maxCudaGraphs/],
    [{ cudaGraphs: 'yes' }, /options\.cudaGraphs/],
    [{ cudaGraphs: true }, /CUDA graphs need a GPU; this pool has only CPU engines.*options\.cudaGraphs/],
    [{ batchBuckets: [0, 2] }, /batch sizes between 1 and maxBatchSize \(32\).*options\.batchBuckets/],
    [{ batchBuckets: [1, 64] }, /options\.batchBuckets/],
    [{ batchBuckets: [1, 2], graphBatchSizes: [1, 4] }, /the same buckets as options\.batchBuckets.*options\.graphBatchSizes/],
    [{ torchscript: 1 }, /options\.torchscript/],
    [{ torchscript: { optimizedExecution: 'no' } }, /options\.torchscript\.optimizedExecution/],
    [{ torchscript: { profilingExecutor: 1 } }, /options\.torchscript\.profilingExecutor/],
    [{ torchscript: { optimisedExecution: false } }, /Unknown option 'optimisedExecution' in options\.torchscript \(did you mean 'optimizedExecution'\?\)/],
    [{ channelsLast: 1 }, /options\.channelsLast/],
    [{ allowTF32: 'no' }, /options\.allowTF32/],
    [{ warmup: [{ shape: [1, -2] }] }, /options\.warmup\[0\]\.shape\[1\]/],
    [{ warmup: [{ shape: [1], dtype: 'float8' }] }, /options\.warmup\[0\]\.dtype/],
    [{ warmup: {} }, /options\.warmup/],
  ])('rejects %j with INVALID_ARG', async (options, message) => {
    const error = await InferencePool.create({ model: await modelPath('mlp'), devices: 'cpu', ...(options as object) }).catch((e: unknown) => e);
    expect((error as { code: string }).code).toBe(ErrorCodes.INVALID_ARG);
    expect((error as Error).message).toMatch(message);
  });
});
