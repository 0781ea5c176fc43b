// CUDA graphs that survive dynamic batching: merged batches padded up to batch-size buckets,
// replayed through each bucket's graph (captured at warmup), padding rows dropped. Padding must
// never change a real row's result. Skipped without CUDA.
import { afterAll, describe, expect, it } from 'vitest';
import { InferencePool, type InferencePoolOptions, type OutputTensor, buildInfo, listDevices, maxRelativeError, modelPath, randomFloats } from '../support/torchpool.js';

const gpus = listDevices().filter((d) => d.type === 'cuda');
const reason = gpus.length === 0 ? `no CUDA device (${buildInfo().cuda ? 'CUDA build' : 'CPU-only libtorch build'})` : '';

describe.skipIf(gpus.length === 0)(`CUDA graph buckets${reason ? ` [skipped: ${reason}]` : ''}`, () => {
  const pools: InferencePool[] = [];
  afterAll(async () => { await Promise.all(pools.map((p) => p.close())); });
  const open = async (name: string, options: Partial<InferencePoolOptions>) => {
    const pool = await InferencePool.create({ model: await modelPath(name), devices: ['cuda:0'], ...options });
    pools.push(pool);
    return pool;
  };

  const cases = [
    { name: 'mlp', item: [256], precision: 'fp32' as const, tolerance: 1e-5 },
    { name: 'mlp', item: [256], precision: 'fp16' as const, tolerance: 2e-3 },
    // cuDNN picks its convolution algorithms per batch size, in TF32 on Hopper: a row computed in
    // a batch of 16 differs from the same row alone by about 1e-3 with or without padding.
    { name: 'resnet18', item: [3, 64, 64], precision: 'fp32' as const, tolerance: 5e-3 },
    { name: 'resnet18', item: [3, 64, 64], precision: 'fp16' as const, tolerance: 1e-2 },
  ];
  for (const { name, item, precision, tolerance } of cases) {
    it(`pads merged batches of ${name} (${precision}) into buckets without changing any row`, async () => {
      const eager = await open(name, { precision, batching: false });
      const graphs = await open(name, { precision, cudaGraphs: true, maxBatchSize: 16, maxQueueDelayMicros: 20_000, warmup: [{ shape: [1, ...item] }] });
      const cuda = graphs.stats().engines[0]!.cuda!.graphs;
      expect(cuda.buckets).toEqual([1, 2, 4, 8, 16]);
      expect(cuda.captured).toBe(5); // every bucket, at warmup
      const per = item.reduce((a, b) => a * b, 1);
      for (const size of [3, 5, 7, 11, 13]) {
        const inputs = Array.from({ length: size }, (_, i) => ({ data: randomFloats(per, 1000 * size + i), shape: [1, ...item] }));
        const [merged, alone] = await Promise.all([
          Promise.all(inputs.map((x) => graphs.infer<OutputTensor>(x))),
          Promise.all(inputs.map((x) => eager.infer<OutputTensor>(x))),
        ]);
        merged.forEach((o, i) => {
          expect(o.shape).toEqual(alone[i]!.shape);
          expect(maxRelativeError(o.data as Float32Array, alone[i]!.data as Float32Array)).toBeLessThan(tolerance);
        });
      }
      const after = graphs.stats().engines[0]!.cuda!.graphs;
      expect(after.paddedRows).toBeGreaterThan(0);
      expect(Object.keys(after.replaysByBucket).length).toBeGreaterThan(1);
      expect(after.captured).toBe(5); // nothing captured after warmup
      expect(Object.keys(after.eagerFallbacks)).toEqual([]);
    });
  }

  it('runs a batch larger than every bucket eagerly, and says so', async () => {
    const pool = await open('mlp', { cudaGraphs: true, graphBatchSizes: [1, 2, 4], maxBatchSize: 64, warmup: [{ shape: [1, 256] }] });
    const out = await pool.infer<OutputTensor>({ data: randomFloats(40 * 256, 3), shape: [40, 256] });
    expect(out.shape).toEqual([40, 10]);
    expect(pool.stats().engines[0]!.cuda!.graphs.eagerFallbacks).toMatchObject({ 'batch larger than the largest bucket (batchBuckets)': 1 });
  });

  it('turns padding off for a model whose output is not per row, and answers it unpadded', async () => {
    const pool = await open('batch_sum', { cudaGraphs: true, batching: true, maxBatchSize: 8, warmup: [{ shape: [1, 4] }] });
    const x = { data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), shape: [3, 4] };
    const out = await pool.infer<OutputTensor>(x);
    expect(Array.from(out.data as Float32Array)).toEqual([15, 18, 21, 24]); // column sums of the 3 real rows
    const fallbacks = pool.stats().engines[0]!.cuda!.graphs.eagerFallbacks;
    expect(Object.keys(fallbacks).some((k) => k.startsWith('padding off'))).toBe(true);
  });

  it('keeps filling a batch while the previous one still runs on the GPU (fillWhileBusy), rows unchanged', async () => {
    // Graph replays and allocInput keep the launch short, so the GPU time of each batch is what
    // a partial batch can wait out. maxQueueDelayMicros 0: any filling at all is a hold.
    const item = [3, 64, 64];
    const per = 3 * 64 * 64;
    const eager = await open('resnet18', { batching: false });
    const run = async (fillWhileBusy: boolean) => {
      const pool = await open('resnet18', { cudaGraphs: true, maxBatchSize: 16, maxQueueDelayMicros: 0, fillWhileBusy, warmup: [{ shape: [1, ...item] }] });
      const inputs = Array.from({ length: 24 }, (_, i) => {
        const t = pool.allocInput([1, ...item]);
        t.data.set(randomFloats(per, 500 + i));
        return t;
      });
      // 24 callers, each sending its input 30 times back to back.
      const outputs = await Promise.all(inputs.map(async (x) => {
        let last: OutputTensor | undefined;
        for (let k = 0; k < 30; k++) last = await pool.infer<OutputTensor>(x);
        return last!;
      }));
      const engine = pool.stats().engines[0]!;
      return { inputs, outputs, held: engine.heldBatches, meanBatch: engine.meanBatchSize };
    };
    const off = await run(false);
    const on = await run(true);
    expect(off.held).toBe(0);
    expect(on.held).toBeGreaterThan(0);
    console.log(`fillWhileBusy: mean batch ${off.meanBatch.toFixed(1)} off, ${on.meanBatch.toFixed(1)} on (${on.held} batches held)`);
    const alone = await Promise.all(on.inputs.map((x) => eager.infer<OutputTensor>({ data: Float32Array.from(x.data), shape: [1, ...item] })));
    on.outputs.forEach((o, i) => expect(maxRelativeError(o.data as Float32Array, alone[i]!.data as Float32Array)).toBeLessThan(5e-3));
  });

  it('keeps device memory steady over thousands of mixed-size batches', async () => {
    const pool = await open('mlp', { cudaGraphs: true, maxBatchSize: 32, maxQueueDelayMicros: 500, warmup: [{ shape: [1, 256] }] });
    const burst = async (n: number) => Promise.all(Array.from({ length: n }, (_, i) => pool.infer({ data: randomFloats(256, i), shape: [1, 256] })));
    for (let i = 0; i < 20; i++) await burst(1 + ((i * 7) % 40));
    const before = pool.stats().engines[0]!.cuda!;
    for (let i = 0; i < 200; i++) await burst(1 + ((i * 13) % 45));
    const after = pool.stats().engines[0]!.cuda!;
    expect(after.graphs.captured).toBe(before.graphs.captured);
    expect(after.memory.allocatedBytes - before.memory.allocatedBytes).toBeLessThan(16 * 2 ** 20);
    expect(after.memory.reservedBytes - before.memory.reservedBytes).toBeLessThan(64 * 2 ** 20);
    expect(after.graphs.poolBytes).toBeLessThan(512 * 2 ** 20);
    expect(after.pinned.allocations).toBe(before.pinned.allocations);
  });
});
