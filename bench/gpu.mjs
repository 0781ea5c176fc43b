// The GPU suite (bench/run.mjs --suite gpu): the CUDA engine against a raw libtorch C++ loop
// and PyTorch in Python on the same model, same run.
import torchpool from '../dist/index.js';
import { pythonPeer, torchpoolLatency, torchpoolThroughput } from './measure.mjs';

const { InferencePool } = torchpool;

/** Host-to-device GB/s through torchpool's staging: batch_sum reads a large input and returns one row. */
async function transfer({ device, model, quick }) {
  const rows = 16384; // 16384 x 1024 float32 = 64 MiB per request
  const input = { data: new Float32Array(rows * 1024).fill(0.25), shape: [rows, 1024] };
  const bytes = input.data.byteLength;
  const out = [];
  const paths = [['pinned staging', 256 * 2 ** 20, false], ['allocInput (copied directly)', 256 * 2 ** 20, true], ['pageable (pinnedMemoryBytes: 0)', 0, false]];
  for (const [name, pinnedMemoryBytes, direct] of paths) {
    const pool = await InferencePool.create({ model: await model('batch_sum'), devices: [device], batching: false, pinnedMemoryBytes });
    let inputs = input;
    if (direct) {
      inputs = pool.allocInput(input.shape);
      inputs.data.fill(0.25);
    }
    const run = await torchpoolLatency(pool, { shape: input.shape, iters: quick ? 10 : 30, warmup: 3, inputs });
    const compute = pool.stats().latency.computeMs.p50;
    await pool.close();
    out.push({ path: name, bytes, caller_p50_us: run.p50_us, compute_p50_ms: compute, gb_per_s: bytes / (compute / 1000) / 1e9 });
    console.log(JSON.stringify(out.at(-1)));
  }
  return out;
}

/** ResNet-50 at batch 1 with and without CUDA graphs. */
async function graphs({ device, model, quick }) {
  const out = [];
  for (const precision of ['fp32', 'fp16']) {
    for (const cudaGraphs of [false, true]) {
      const shape = [1, 3, 224, 224];
      const pool = await InferencePool.create({ model: await model('resnet50'), devices: [device], precision, cudaGraphs, warmup: [{ shape }] });
      const run = await torchpoolLatency(pool, { shape, iters: quick ? 100 : 400, warmup: 20 });
      const cuda = pool.stats().engines[0].cuda;
      await pool.close();
      out.push({ precision, cudaGraphs, p50_us: run.p50_us, p99_us: run.p99_us, captured: cuda.graphs.captured, replays: cuda.graphs.replays });
      console.log(JSON.stringify(out.at(-1)));
    }
  }
  return out;
}

/** pipelineDepth 1 vs 2 and one vs two engines, with requests kept in flight. */
async function throughput({ device, model, quick }) {
  const out = [];
  const configs = [
    { engines: 1, pipelineDepth: 1 }, { engines: 1, pipelineDepth: 2 }, { engines: 2, pipelineDepth: 2 },
  ];
  for (const { engines, pipelineDepth } of configs) {
    const pool = await InferencePool.create({ model: await model('resnet50'), devices: Array(engines).fill(device), pipelineDepth, batching: false });
    const result = await torchpoolThroughput(pool, { shape: [32, 3, 224, 224], requests: quick ? 40 : 160, concurrency: 4 });
    const overlapped = pool.stats().engines.reduce((n, e) => n + e.cuda.overlapped, 0);
    await pool.close();
    out.push({ engines, pipelineDepth, batch: 32, concurrency: 4, overlapped, ...result });
    console.log(JSON.stringify(out.at(-1)));
  }
  return out;
}

/**
 * Graphs under dynamic batching: ResNet-50 fp16, 16 and 64 concurrent batch-1 callers, eager
 * batching against bucketed CUDA graphs + batching (every bucket captured at load).
 */
async function graphBatching({ device, model, quick }) {
  const { runConfig } = await import('../dist/bench/load.js');
  const out = [];
  const shape = [1, 3, 224, 224];
  const input = { data: new Float32Array(3 * 224 * 224).fill(0.1), shape };
  for (const concurrency of [16, 64]) {
    for (const cudaGraphs of [false, true]) {
      const pool = await InferencePool.create({
        model: await model('resnet50'), devices: [device], precision: 'fp16', channelsLast: true, maxBatchSize: 32,
        maxQueueDelayMicros: 200, warmup: [{ shape }], ...(cudaGraphs ? { cudaGraphs } : {}),
      });
      const result = await runConfig(pool, { precision: 'fp16', batch: 1, concurrency, input },
        { warmup: { ms: 1000 }, measure: { ms: quick ? 2000 : 6000 } });
      const graphs = pool.stats().engines[0].cuda.graphs;
      await pool.close();
      out.push({ concurrency, cudaGraphs, requests_per_s: result.requestsPerSecond, p50_ms: result.latencyMs.p50, p99_ms: result.latencyMs.p99,
        mean_batch: result.meanBatchSize, padded_rows: graphs.paddedRows, eager_fallbacks: graphs.eagerFallbacks, replays_by_bucket: graphs.replaysByBucket });
      console.log(JSON.stringify(out.at(-1)));
    }
  }
  return out;
}

/** The MLP on one and two engines of one GPU, 64 concurrent batch-1 callers. */
export async function engineScaling({ device, model, quick }) {
  const { runConfig } = await import('../dist/bench/load.js');
  const out = [];
  const input = { data: new Float32Array(256).fill(0.1), shape: [1, 256] };
  for (const engines of [1, 2]) {
    const pool = await InferencePool.create({ model: await model('mlp'), devices: Array(engines).fill(device), maxBatchSize: 32, warmup: [{ shape: [1, 256] }] });
    const result = await runConfig(pool, { precision: 'fp32', batch: 1, concurrency: 64, input }, { warmup: { ms: 500 }, measure: { ms: quick ? 2000 : 5000 } });
    await pool.close();
    out.push({ engines, items_per_s: result.itemsPerSecond, p99_ms: result.latencyMs.p99, mean_batch: result.meanBatchSize });
    console.log(JSON.stringify(out.at(-1)));
  }
  return out;
}

export async function gpuSuite({ device, model, quick, latencyCase }) {
  const latency = [];
  latency.push(await latencyCase({ name: 'tiny (Linear 16x16), batch 1', modelName: 'tiny', device, shape: [1, 16], threads: 1, iters: 2000, warmup: 200 }));
  latency.push(await latencyCase({ name: 'tiny (Linear 16x16), batch 1, allocInput', modelName: 'tiny', device, shape: [1, 16], threads: 1, iters: 2000, warmup: 200, pinnedInput: true }));
  // The fp16 ResNet-50 at batch 8 (about 2.4 MB of input): staged as usual, and from allocInput memory.
  for (const pinnedInput of [false, true]) {
    const shape = [8, 3, 224, 224];
    latency.push(await latencyCase({ name: `ResNet-50 224x224, fp16, batch 8${pinnedInput ? ', allocInput' : ''}`, modelName: 'resnet50', device, shape, threads: 1,
      iters: quick ? 60 : 150, warmup: 10, half: true, pinnedInput, poolOptions: { precision: 'fp16', warmup: [{ shape }] } }));
  }
  const file = await model('resnet50');
  const resnet = [];
  for (const precision of ['fp32', 'fp16']) {
    const half = precision === 'fp16';
    for (const batch of quick ? [1, 32] : [1, 8, 32, 128]) {
      const shape = [batch, 3, 224, 224];
      const iters = batch >= 128 ? 30 : batch >= 32 ? 60 : 150;
      const row = await latencyCase({ name: `ResNet-50 224x224, ${precision}, batch ${batch}`, modelName: 'resnet50', device, shape, threads: 1, iters, warmup: 10, half,
        poolOptions: { precision, warmup: [{ shape }] } });
      const peer = pythonPeer({ file, device, shape, iters, warmup: 10, eager: 'resnet50', half });
      Object.assign(row, { precision, batch, python_jit_p50_us: peer.jit?.p50_us, python_eager_p50_us: peer.eager?.p50_us, python_error: peer.error,
        images_per_s: (batch * 1e6) / row.torchpool_p50_us });
      console.log(JSON.stringify(row));
      resnet.push(row);
    }
  }
  return {
    latency,
    resnet,
    graphs: await graphs({ device, model, quick }),
    transfer: await transfer({ device, model, quick }),
    throughput: await throughput({ device, model, quick }),
    graphBatching: await graphBatching({ device, model, quick }),
    engineScaling: await engineScaling({ device, model, quick }),
  };
}
