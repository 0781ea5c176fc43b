// The CUDA engine (own streams, pinned staging, pipeline, precision, CUDA graphs, OOM) on a
// machine with a CUDA device and a CUDA libtorch; skipped with a reason elsewhere.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes, InferencePool, type InferencePoolOptions, type OutputTensor, buildInfo, codeOf,
  costInput, listDevices, maxRelativeError, modelPath, randomFloats,
} from '../support/torchpool.js';
import { fromHalf, toHalf } from '../../dist/serve/datatypes.js';

const gpus = listDevices().filter((d) => d.type === 'cuda');
const reason = gpus.length === 0 ? `no CUDA device (${buildInfo().cuda ? 'CUDA build' : 'CPU-only libtorch build'})` : '';
const dist = path.resolve(__dirname, '../../dist/index.js');

describe.skipIf(gpus.length === 0)(`CUDA engine${reason ? ` [skipped: ${reason}]` : ''}`, () => {
  const pools: InferencePool[] = [];
  const open = async (name: string, options: Partial<InferencePoolOptions> = {}) => {
    const pool = await InferencePool.create({ model: await modelPath(name), devices: ['cuda:0'], ...options });
    pools.push(pool);
    return pool;
  };
  let cpuMlp: InferencePool;
  let cpuResnet: InferencePool;
  const mlpInput = { data: randomFloats(16 * 256, 21), shape: [16, 256] };
  const image = { data: randomFloats(4 * 3 * 64 * 64, 22), shape: [4, 3, 64, 64] };
  let mlpReference: Float32Array;
  let resnetReference: Float32Array;
  beforeAll(async () => {
    cpuMlp = await InferencePool.create({ model: await modelPath('mlp'), devices: 'cpu' });
    cpuResnet = await InferencePool.create({ model: await modelPath('resnet18'), devices: 'cpu' });
    pools.push(cpuMlp, cpuResnet);
    mlpReference = (await cpuMlp.infer<OutputTensor>(mlpInput)).data as Float32Array;
    resnetReference = (await cpuResnet.infer<OutputTensor>(image)).data as Float32Array;
  });
  afterAll(async () => { await Promise.all(pools.map((p) => p.close())); });

  it('gives each engine its own non-default compute and copy streams', async () => {
    const pool = await InferencePool.create({ model: await modelPath('mlp'), devices: ['cuda:0', 'cuda:0'] });
    pools.push(pool);
    await Promise.all(Array.from({ length: 64 }, () => pool.infer(mlpInput)));
    const streams = pool.stats().engines.flatMap((e) => [e.cuda!.computeStream, e.cuda!.copyStream]);
    expect(new Set(streams).size).toBe(4);
    for (const s of streams) expect(s).not.toBe('0x0');
  });

  it('times each stage of a request: staging, launch, device and collect are all seen on a CUDA engine', async () => {
    const pool = await open('resnet18');
    for (let i = 0; i < 20; ++i) await pool.infer(image);
    const stages = pool.stats().latency.stages!;
    for (const l of Object.values(stages)) expect(l.count).toBe(20);
    expect(stages.deviceMs.p50).toBeGreaterThan(0);
    expect(stages.stagingMs.p50 + stages.launchMs.p50).toBeGreaterThan(0);
    expect(stages.collectMs.p50).toBeGreaterThan(0);
    const parts = Object.values(stages).reduce((sum, l) => sum + l.p50, 0);
    expect(parts).toBeLessThanOrEqual(pool.stats().latency.totalMs.p99 * 2);
  });

  it('copies allocInput tensors to the device straight from their page-locked memory, alone, merged and mixed', async () => {
    const pool = await open('mlp', { maxBatchSize: 16 });
    const pinned = pool.allocInput([16, 256]);
    expect(pinned).toMatchObject({ pinned: true, shape: [16, 256], dtype: 'float32' });
    pinned.data.set(mlpInput.data);
    const before = pool.stats().engines[0]!.cuda!.pinned;
    const out = await pool.infer<OutputTensor>(pinned);
    expect(maxRelativeError(out.data as Float32Array, mlpReference)).toBeLessThan(1e-4);
    const after = pool.stats().engines[0]!.cuda!.pinned;
    expect(after.directBytes - before.directBytes).toBe(16 * 256 * 4);
    // Only the output went through the staging blocks.
    expect(after.copiedBytes - before.copiedBytes).toBe(16 * 10 * 4);

    // Rows of pinned tensors merged into one batch, and a batch mixing pinned and ordinary rows.
    const rows = Array.from({ length: 16 }, (_, i) => {
      const t = pool.allocInput([1, 256]);
      t.data.set(mlpInput.data.subarray(i * 256, (i + 1) * 256));
      return t;
    });
    for (const mixed of [false, true]) {
      const inputs = rows.map((t, i) => (mixed && i % 2 ? { data: Float32Array.from(t.data), shape: [1, 256] } : t));
      const outs = await Promise.all(inputs.map((t) => pool.infer<OutputTensor>(t)));
      const joined = new Float32Array(16 * 10);
      outs.forEach((o, i) => joined.set(o.data as Float32Array, i * 10));
      expect(maxRelativeError(joined, mlpReference)).toBeLessThan(1e-4);
    }
    expect(pool.stats().batches).toBeLessThan(pool.stats().requests);

    // fp16 pools cast on the device: the direct copy carries the float32 rows as they are.
    const half = await open('mlp', { precision: 'fp16' });
    const again = await half.infer<OutputTensor>(pinned);
    expect(maxRelativeError(again.data as Float32Array, mlpReference)).toBeLessThan(1e-2);
    expect(half.stats().engines[0]!.cuda!.pinned.directBytes).toBeGreaterThan(0);
  });

  it('keeps allocInput memory valid after its pool closed, and a later pool copies from it directly', async () => {
    const first = await InferencePool.create({ model: await modelPath('mlp'), devices: ['cuda:0'] });
    const t = first.allocInput([16, 256]);
    await first.close();
    t.data.set(mlpInput.data);
    const second = await open('mlp');
    const out = await second.infer<OutputTensor>(t);
    expect(maxRelativeError(out.data as Float32Array, mlpReference)).toBeLessThan(1e-4);
    expect(second.stats().engines[0]!.cuda!.pinned.directBytes).toBe(16 * 256 * 4);
  });

  it('stages copies through pinned memory, and falls back to pageable memory without failing', async () => {
    const pinned = await open('mlp');
    const out = await pinned.infer<OutputTensor>(mlpInput);
    expect(maxRelativeError(out.data as Float32Array, mlpReference)).toBeLessThan(1e-4);
    const stats = pinned.stats().engines[0]!.cuda!;
    expect(stats.pinned.copiedBytes).toBeGreaterThanOrEqual(16 * 256 * 4 + 16 * 10 * 4);
    expect(stats.pinned.fallbacks).toBe(0);
    expect(stats.pinned.reservedBytes).toBeGreaterThan(0);
    expect(stats.pinned.inUseBytes).toBe(0);

    const pageable = await open('mlp', { pinnedMemoryBytes: 0 });
    const again = await pageable.infer<OutputTensor>(mlpInput);
    expect(maxRelativeError(again.data as Float32Array, mlpReference)).toBeLessThan(1e-4);
    const fallback = pageable.stats().engines[0]!.cuda!.pinned;
    expect(fallback.pageableBytes).toBeGreaterThan(0);
    expect(fallback.fallbacks).toBeGreaterThan(0);
    expect(fallback.copiedBytes).toBe(0);
  });

  it('overlaps the copy-in of the next batch with the running forward at pipelineDepth 2, not at 1', async () => {
    // The cost model on 65,536 rows: 1,000 matmul+tanh steps keep the GPU busy several times
    // longer than the host needs to stage the next 16 MB input and enqueue its kernels, so the
    // next batch's copy-in starts while the device still computes.
    const [x, iters] = costInput(1000, 65_536);
    const run = async (pipelineDepth: number) => {
      const pool = await open('cost', { pipelineDepth, batching: false });
      for (let i = 0; i < 3; i++) await pool.infer([x, 10]); // JIT profiling runs, allocator warm
      const outs = await Promise.all(Array.from({ length: 8 }, () => pool.infer<OutputTensor>([x, iters])));
      expect(outs.every((o) => o.shape[0] === 65_536)).toBe(true);
      return pool.stats().engines[0]!.cuda!;
    };
    const deep = await run(2);
    expect(deep.pipelineDepth).toBe(2);
    expect(deep.overlapped).toBeGreaterThan(0);
    const shallow = await run(1);
    expect(shallow.overlapped).toBe(0);
  });

  it('runs fp16, bf16 and autocast within 1e-2 of the fp32 CPU reference', async () => {
    for (const precision of ['fp16', 'bf16', 'autocast'] as const) {
      const mlp = await open('mlp', { precision });
      const out = await mlp.infer<OutputTensor>(mlpInput);
      expect(out.dtype).toBe('float32');
      expect(maxRelativeError(out.data as Float32Array, mlpReference), `mlp ${precision}`).toBeLessThan(1e-2);
    }
    for (const [precision, channelsLast] of [['fp16', false], ['fp16', true], ['bf16', true]] as const) {
      const resnet = await open('resnet18', { precision, channelsLast });
      const out = await resnet.infer<OutputTensor>(image);
      // bf16 keeps 8 bits of mantissa: ResNet-18's 18 layers stay within a few percent.
      const tolerance = precision === 'bf16' ? 5e-2 : 1e-2;
      expect(maxRelativeError(out.data as Float32Array, resnetReference), `resnet18 ${precision} channelsLast=${channelsLast}`).toBeLessThan(tolerance);
    }
  });

  it('takes float16 inputs as they are and returns float16 when outputDtype asks', async () => {
    const pool = await open('mlp', { precision: 'fp16', outputDtype: 'float16' });
    const bits = Uint16Array.from(mlpInput.data, toHalf);
    const out = await pool.infer<OutputTensor>({ data: bits, shape: [16, 256], dtype: 'float16' });
    expect(out.dtype).toBe('float16');
    const values = Array.from(out.data as Uint16Array, fromHalf);
    expect(maxRelativeError(values, mlpReference)).toBeLessThan(2e-2);
  });

  it('captures a CUDA graph per shape, replays it with the same results, and runs other shapes eagerly', async () => {
    const eager = await open('resnet18');
    // graphBatchSizes: [] captures per exact shape (no buckets; graph-buckets.test.ts covers those).
    const graphs = await open('resnet18', { cudaGraphs: true, graphBatchSizes: [], warmup: [{ shape: [4, 3, 64, 64] }] });
    expect(graphs.stats().engines[0]!.cuda!.graphs.captured).toBe(1);
    const expected = (await eager.infer<OutputTensor>(image)).data as Float32Array;
    for (let i = 0; i < 3; i++) {
      const out = await graphs.infer<OutputTensor>(image);
      expect(maxRelativeError(out.data as Float32Array, expected)).toBeLessThan(1e-3);
    }
    const other = { data: randomFloats(2 * 3 * 64 * 64, 23), shape: [2, 3, 64, 64] };
    const [a, b] = await Promise.all([graphs.infer<OutputTensor>(other), eager.infer<OutputTensor>(other)]);
    expect(maxRelativeError(a.data as Float32Array, b.data as Float32Array)).toBeLessThan(1e-3);
    const stats = graphs.stats().engines[0]!.cuda!.graphs;
    expect(stats.replays).toBeGreaterThanOrEqual(4); // the capture's own replay at warmup, then three
    expect(stats.disabledReason).toBeUndefined();
  });

  it('keeps serving eagerly when a model cannot be captured (it syncs with the host)', async () => {
    const pool = await open('raises', { cudaGraphs: true });
    for (let i = 0; i < 4; i++) {
      const out = await pool.infer<OutputTensor>({ data: new Float32Array([i]), shape: [1] });
      expect(Array.from(out.data as Float32Array)).toEqual([2 * i]);
    }
    const graphs = pool.stats().engines[0]!.cuda!.graphs;
    expect(graphs.captured).toBe(0);
    expect(graphs.disabledReason).toMatch(/capture failed/);
    expect(await codeOf(pool.infer({ data: new Float32Array([-1]), shape: [1] }))).toBe(ErrorCodes.FORWARD);
  });

  it('rejects an out-of-memory forward with OUT_OF_MEMORY, frees the cache and keeps serving', async () => {
    const pool = await open('faulty', { unhealthyAfter: 0 });
    expect(await codeOf(pool.infer({ data: new Float32Array([NaN]), shape: [1] }))).toBe(ErrorCodes.OUT_OF_MEMORY);
    const good = await pool.infer<OutputTensor>({ data: new Float32Array([3]), shape: [1] });
    expect(Array.from(good.data as Float32Array)).toEqual([6]);
    expect(pool.stats().engines[0]!.cuda!.outOfMemory).toBe(1);
  });

  it('isolates an out-of-memory member of a merged batch: the others are served', async () => {
    const pool = await open('faulty', { unhealthyAfter: 0, maxQueueDelayMicros: 50_000 });
    const inputs = [1, 2, NaN, 4].map((v) => ({ data: new Float32Array([v, v]), shape: [1, 2] }));
    const codes = await Promise.all(inputs.map((x) => codeOf(pool.infer(x))));
    expect(codes).toEqual(['ok', 'ok', ErrorCodes.OUT_OF_MEMORY, 'ok']);
  });

  it('reports device memory and does not grow it over thousands of requests', async () => {
    const pool = await open('mlp', { cudaGraphs: true });
    const x = { data: randomFloats(256, 5), shape: [1, 256] };
    await Promise.all(Array.from({ length: 500 }, () => pool.infer(x)));
    const before = pool.stats().engines[0]!.cuda!.memory;
    expect(before.totalBytes).toBeGreaterThan(1e9);
    expect(before.freeBytes).toBeGreaterThan(0);
    expect(before.allocatedBytes).toBeGreaterThan(0);
    for (let round = 0; round < 4; round++) await Promise.all(Array.from({ length: 1000 }, () => pool.infer(x)));
    const after = pool.stats().engines[0]!.cuda!.memory;
    // Process-local figures: the device's free memory also moves with the other GPU test file.
    expect(after.allocatedBytes - before.allocatedBytes).toBeLessThan(16 * 2 ** 20);
    expect(after.reservedBytes - before.reservedBytes).toBeLessThan(64 * 2 ** 20);
    expect(pool.stats().engines[0]!.cuda!.pinned.inUseBytes).toBe(0);
  });

  it('fails create() with the reason when a warmup input does not fit the model', async () => {
    const error = await InferencePool.create({ model: await modelPath('mlp'), devices: ['cuda:0'], warmup: [{ shape: [1, 7] }] }).catch((e: unknown) => e);
    expect((error as { code: string }).code).toBe(ErrorCodes.FORWARD);
    expect((error as Error).message).toMatch(/warmup failed/);
  });

  it('releases its CUDA resources when a worker thread ends with a busy pool', async () => {
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { InferencePool } = require(workerData.dist);
      (async () => {
        const pool = await InferencePool.create({ model: workerData.model, devices: ['cuda:0'], cudaGraphs: true });
        await pool.infer([{ data: new Float32Array(64 * 256), shape: [256, 64] }, 10]);
        for (let i = 0; i < 8; i++) pool.infer([{ data: new Float32Array(64 * 4096), shape: [4096, 64] }, 2000]);
        parentPort.postMessage('busy');
      })();`;
    const messages = await new Promise<unknown[]>((resolve, reject) => {
      const seen: unknown[] = [];
      const worker = new Worker(source, { eval: true, workerData: { dist, model: pathOfCost } });
      worker.on('message', (m) => { seen.push(m); setTimeout(() => void worker.terminate(), 20); });
      worker.on('error', reject);
      worker.on('exit', () => resolve(seen));
    });
    expect(messages).toEqual(['busy']);
    const pool = await open('cost');
    expect((await pool.infer<OutputTensor>(costInput(1))).shape).toEqual([1, 64]);
  });
});

let pathOfCost = '';
beforeAll(async () => { pathOfCost = await modelPath('cost'); });
