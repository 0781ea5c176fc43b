// Runs on a machine with a CUDA device and a CUDA libtorch; skipped with a reason elsewhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes, InferencePool, type OutputTensor, TorchpoolError, buildInfo, listDevices,
  maxRelativeError, modelPath, randomFloats, worstIntervalGap,
} from '../support/torchpool.js';

const gpus = listDevices().filter((d) => d.type === 'cuda');
const reason = gpus.length === 0 ? `no CUDA device (${buildInfo().cuda ? 'CUDA build' : 'CPU-only libtorch build'})` : '';

describe.skipIf(gpus.length === 0)(`CUDA engines${reason ? ` [skipped: ${reason}]` : ''}`, () => {
  const pools: InferencePool[] = [];
  const open = async (name: string, devices: string[] | 'cuda' | 'cpu' = ['cuda:0']) => {
    const pool = await InferencePool.create({ model: await modelPath(name), devices });
    pools.push(pool);
    return pool;
  };
  let cpuMlp: InferencePool;
  beforeAll(async () => { cpuMlp = await open('mlp', 'cpu'); });
  afterAll(async () => { await Promise.all(pools.map((p) => p.close())); });

  it('was built with CUDA and lists each device with memory and compute capability', () => {
    expect(buildInfo().cuda).toBe(true);
    for (const d of gpus) {
      expect(d.name.length).toBeGreaterThan(0);
      expect(d.totalMemory).toBeGreaterThan(1e9);
      expect(d.freeMemory).toBeGreaterThan(0);
      expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
    }
  });

  it("defaults 'all' to every GPU", async () => {
    const pool = await InferencePool.create({ model: await modelPath('tiny') });
    expect(pool.devices).toEqual(gpus.map((d) => d.id));
    await pool.close();
  });

  it('matches the CPU reference for the MLP (fp32, 1e-4 relative)', async () => {
    const gpu = await open('mlp');
    const x = { data: randomFloats(16 * 256, 3), shape: [16, 256] };
    const [a, b] = await Promise.all([gpu.infer<OutputTensor>(x), cpuMlp.infer<OutputTensor>(x)]);
    expect(a.shape).toEqual([16, 10]);
    expect(maxRelativeError(a.data as Float32Array, b.data as Float32Array)).toBeLessThan(1e-4);
  });

  it('matches the CPU reference for ResNet-18 (cuDNN may use TF32 convolutions: 1e-2)', async () => {
    const gpu = await open('resnet18');
    const cpu = await open('resnet18', 'cpu');
    const x = { data: randomFloats(2 * 3 * 64 * 64, 9), shape: [2, 3, 64, 64] };
    const [a, b] = await Promise.all([gpu.infer<OutputTensor>(x), cpu.infer<OutputTensor>(x)]);
    expect(maxRelativeError(a.data as Float32Array, b.data as Float32Array)).toBeLessThan(1e-2);
  });

  it('returns tuples and dicts from the device, and int64 inputs work', async () => {
    const tuple = await open('tuple_out');
    const [plus] = await tuple.infer<OutputTensor[]>({ data: new Float32Array([1, 2]), shape: [1, 2] });
    expect(Array.from(plus!.data as Float32Array)).toEqual([2, 3]);
    const emb = await open('embedding');
    const out = await emb.infer<OutputTensor>({ data: BigInt64Array.from([1n, 2n]), shape: [1, 2] });
    expect(out.shape).toEqual([1, 16]);
  });

  it('rejects a failing forward on the device and keeps serving', async () => {
    const pool = await open('raises');
    const bad = await pool.infer({ data: new Float32Array([-1]), shape: [1] }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(TorchpoolError);
    expect((bad as TorchpoolError).code).toBe(ErrorCodes.FORWARD);
    const good = await pool.infer<OutputTensor>({ data: new Float32Array([2]), shape: [1] });
    expect(Array.from(good.data as Float32Array)).toEqual([4]);
  });

  it('merges concurrent requests into one forward on the device and splits them back exactly', async () => {
    const pool = await InferencePool.create({ model: await modelPath('dict_out'), devices: ['cuda:0'], maxQueueDelayMicros: 100_000 });
    pools.push(pool);
    const inputs = Array.from({ length: 16 }, (_, i) => randomFloats(8, 40 + i));
    const outs = await Promise.all(inputs.map((x) => pool.infer<Record<string, OutputTensor>>({ data: x, shape: [1, 8] })));
    outs.forEach((out, i) => {
      expect(Array.from(out.double!.data as Float32Array)).toEqual(Array.from(inputs[i]!, (v) => v * 2));
      expect(Array.from(out.negated!.data as Float32Array)).toEqual(Array.from(inputs[i]!, (v) => -v));
    });
    expect(pool.stats().meanBatchSize).toBeGreaterThan(1);
  });

  it('serves thousands of concurrent requests on two engines of one GPU without growing device memory', async () => {
    const pool = await open('mlp', ['cuda:0', 'cuda:0']);
    const x = { data: randomFloats(256, 5), shape: [1, 256] };
    const reference = await cpuMlp.infer<OutputTensor>(x);
    await Promise.all(Array.from({ length: 500 }, () => pool.infer(x)));
    // This process's own device memory (libtorch's caching allocator): the device-wide free figure
    // also moves with the other GPU test file, which vitest runs in parallel in another process.
    const allocated = () => pool.stats().engines[0]!.cuda!.memory.reservedBytes;
    const before = allocated();
    for (let round = 0; round < 4; round++) {
      const outs = await Promise.all(Array.from({ length: 1000 }, () => pool.infer<OutputTensor>(x)));
      for (const out of outs.slice(0, 10)) {
        expect(maxRelativeError(out.data as Float32Array, reference.data as Float32Array)).toBeLessThan(1e-4);
      }
    }
    expect(allocated() - before).toBeLessThan(64 * 2 ** 20);
    expect(pool.stats().engines.every((e) => e.requests > 0)).toBe(true);
  });
});

describe.skipIf(gpus.length === 0)('CUDA engines keep the event loop free', () => {
  it('keeps a 1 ms interval ticking through a cold first forward and steady ResNet-50 load', async () => {
    const pool = await InferencePool.create({ model: await modelPath('resnet50'), devices: ['cuda:0'] });
    const image = { data: randomFloats(32 * 3 * 224 * 224, 2), shape: [32, 3, 224, 224] };
    const cold = await worstIntervalGap(() => pool.infer(image));
    const warm = await worstIntervalGap(() => Promise.all(Array.from({ length: 20 }, () => pool.infer(image))));
    await pool.close();
    console.log(`GPU event loop: cold first forward ${cold.elapsed.toFixed(0)} ms, worst gap ${cold.worst.toFixed(1)} ms; ` +
      `20 requests ${warm.elapsed.toFixed(0)} ms, worst gap ${warm.worst.toFixed(1)} ms`);
    expect(warm.worst).toBeLessThan(50);
    expect(cold.worst).toBeLessThan(Math.max(50, cold.elapsed / 4));
  });
});
