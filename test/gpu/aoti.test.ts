// AOTInductor packages (.pt2) on the GPU machine: made in the test setup with the machine's
// PyTorch (test/fixtures/aoti/make_packages.py), run by torchpool, compared with TorchScript of
// the same module. Skipped without CUDA, without a libtorch that runs packages (2.6+), or
// without a Python torch that makes them.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, InferencePool, type OutputTensor, buildInfo, codeOf, listDevices, maxRelativeError, randomFloats } from '../support/torchpool.js';

const root = path.resolve(__dirname, '../..');
// Packages take minutes to compile: made once per machine (per torch version and settings).
const cacheBase = path.join(process.env.TORCHPOOL_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'torchpool'), 'aoti');
let dir = '';
const gpus = listDevices().filter((d) => d.type === 'cuda');
const python = spawnSync('python3', ['-c', 'import torch, torch._inductor; print(torch.__version__)'], { encoding: 'utf8' });
const reason = gpus.length === 0 ? 'no CUDA device' : !buildInfo().aoti ? `libtorch ${buildInfo().torchVersion} cannot run AOTInductor packages` :
  python.status !== 0 ? 'no Python torch to make packages with' : '';

describe.skipIf(reason !== '')(`AOTInductor packages${reason ? ` [skipped: ${reason}]` : ''}`, () => {
  const file = (name: string) => path.join(dir, name);
  const pools: InferencePool[] = [];
  const open = async (model: string, options: object = {}) => {
    const pool = await InferencePool.create({ model: file(model), devices: ['cuda:0'], ...options });
    pools.push(pool);
    return pool;
  };
  beforeAll(() => {
    // TORCHPOOL_AOTI_MODELS narrows what is made (e.g. "mlp-cuda resnet50" for a short GPU run).
    const models = (process.env.TORCHPOOL_AOTI_MODELS ?? '').split(/\s+/).filter(Boolean);
    const made = spawnSync('python3', [path.join(root, 'test', 'fixtures', 'aoti', 'make_packages.py'), cacheBase, ...models], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (made.status !== 0) throw new Error('make_packages.py failed');
    dir = /^dir=(.+)$/m.exec(made.stdout)![1]!;
  }, 900_000);
  afterAll(async () => { await Promise.all(pools.map((p) => p.close())); });

  const mlpInput = (rows: number, seed = 1) => ({ data: randomFloats(rows * 256, seed), shape: [rows, 256] });

  it('runs the MLP package on the CPU and on CUDA like TorchScript of the same module', async () => {
    const reference = await open('mlp.ts', { devices: 'cpu' });
    const cpu = await open('mlp-cpu.pt2', { devices: 'cpu' });
    const cuda = await open('mlp-cuda.pt2');
    expect([cpu.format, cuda.format, reference.format]).toEqual(['aoti', 'aoti', 'torchscript']);
    expect(cuda.signature.inputs.map((i) => i.name)).toEqual(['input_0']);
    expect(cuda.signature.metadata.AOTI_DEVICE_KEY).toMatch(/cuda/);
    // Exported with Dim('batch', min=1) from a batch of 2; torch 2.11 still starts the range at 2
    // (0/1 specialisation), and torchpool runs one row as two.
    for (const rows of [1, 2, 7, 64]) {
      const x = mlpInput(rows, rows);
      const expected = (await reference.infer<OutputTensor>(x)).data as Float32Array;
      expect(maxRelativeError((await cpu.infer<OutputTensor>(x)).data as Float32Array, expected)).toBeLessThan(1e-4);
      expect(maxRelativeError((await cuda.infer<OutputTensor>(x)).data as Float32Array, expected)).toBeLessThan(1e-3);
    }
    expect(await codeOf(cuda.infer({ x: mlpInput(1) } as never))).toBe(ErrorCodes.INVALID_ARG); // positional only
  });

  it('batches requests into the dynamic batch dimension, on several engines of one GPU', async () => {
    const reference = await open('mlp.ts', { devices: 'cpu' });
    const pool = await open('mlp-cuda.pt2', { devices: ['cuda:0', 'cuda:0'], maxQueueDelayMicros: 2000 });
    const inputs = Array.from({ length: 200 }, (_, i) => mlpInput(1, 100 + i));
    const [outputs, expected] = await Promise.all([
      Promise.all(inputs.map((x) => pool.infer<OutputTensor>(x))),
      Promise.all(inputs.map((x) => reference.infer<OutputTensor>(x))),
    ]);
    outputs.forEach((o, i) => expect(maxRelativeError(o.data as Float32Array, expected[i]!.data as Float32Array)).toBeLessThan(1e-3));
    const stats = pool.stats();
    expect(stats.meanBatchSize).toBeGreaterThan(1);
    expect(stats.engines.every((e) => e.requests > 0)).toBe(true);
    expect(stats.batching.enabled).toBe(true);
  });

  it('holds one copy of the weights per GPU: engines of one device share the package\'s constants, graphs or not', async () => {
    // 256*1024 + 1024*1024 + 1024*10 weights and 2058 biases, float32.
    const oneCopy = 4 * (256 * 1024 + 1024 * 1024 + 1024 * 10 + 1024 + 1024 + 10);
    for (const options of [{}, { cudaGraphs: true, warmup: [{ shape: [1, 256] }] }]) {
      const pool = await open('mlp-cuda.pt2', { devices: ['cuda:0', 'cuda:0'], ...options });
      const stats = pool.stats();
      const [a, b] = [stats.engines[0]!, stats.engines[1]!];
      expect(a.weightBytes).toBeGreaterThanOrEqual(oneCopy);
      expect(a.weightBytes).toBeLessThan(oneCopy * 1.1);
      expect(b.weightBytes).toBe(a.weightBytes);
      expect(stats.weightBytesByDevice['cuda:0']).toBe(a.weightBytes);
      const out = await Promise.all(Array.from({ length: 32 }, (_, i) => pool.infer<OutputTensor>(mlpInput(1, 300 + i))));
      expect(out.every((o) => o.shape[1] === 10)).toBe(true);
    }
  });

  it('captures a CUDA graph per bucket of a package and replays it: merged batches equal TorchScript', async () => {
    const reference = await open('mlp.ts', { devices: 'cpu' });
    const pool = await open('mlp-cuda.pt2', { cudaGraphs: true, maxBatchSize: 16, maxQueueDelayMicros: 20_000, warmup: [{ shape: [1, 256] }] });
    const graphs = pool.stats().engines[0]!.cuda!.graphs;
    expect(graphs.disabledReason).toBeUndefined();
    expect(graphs.captured).toBe(5); // buckets 1, 2, 4, 8, 16
    for (const size of [3, 5, 7, 11, 13]) {
      const inputs = Array.from({ length: size }, (_, i) => mlpInput(1, 1000 * size + i));
      const [merged, expected] = await Promise.all([Promise.all(inputs.map((x) => pool.infer<OutputTensor>(x))), Promise.all(inputs.map((x) => reference.infer<OutputTensor>(x)))]);
      merged.forEach((o, i) => expect(maxRelativeError(o.data as Float32Array, expected[i]!.data as Float32Array)).toBeLessThan(1e-3));
    }
    const after = pool.stats().engines[0]!.cuda!.graphs;
    expect(after.replays).toBeGreaterThan(5);
    expect(after.captured).toBe(5);
    expect(Object.keys(after.eagerFallbacks)).toEqual([]);
  });

  it('runs ResNet-50 packages in fp32 and fp16 within tolerance of TorchScript', async () => {
    const reference = await open('resnet50.ts');
    const fp32 = await open('resnet50-fp32.pt2');
    const fp16 = await open('resnet50-fp16.pt2');
    const image = { data: randomFloats(4 * 3 * 224 * 224, 7), shape: [4, 3, 224, 224] };
    const expected = (await reference.infer<OutputTensor>(image)).data as Float32Array;
    expect(maxRelativeError((await fp32.infer<OutputTensor>(image)).data as Float32Array, expected)).toBeLessThan(1e-2);
    expect(maxRelativeError((await fp16.infer<OutputTensor>(image)).data as Float32Array, expected)).toBeLessThan(5e-2);
  });

  it('refuses a CUDA package on a CPU engine, and a damaged package, with MODEL_LOAD', async () => {
    const onCpu = await InferencePool.create({ model: file('mlp-cuda.pt2'), devices: 'cpu' }).catch((e: { code: string; message: string }) => e);
    expect((onCpu as { code: string }).code).toBe(ErrorCodes.MODEL_LOAD);
    expect((onCpu as { message: string }).message).toMatch(/compiled for cuda|CUDA/i);
    const damaged = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-aoti-')), 'damaged.pt2');
    const bytes = fs.readFileSync(file('mlp-cuda.pt2'));
    fs.writeFileSync(damaged, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const error = await InferencePool.create({ model: damaged, devices: ['cuda:0'] }).catch((e: { code: string }) => e);
    expect((error as { code: string }).code).toBe(ErrorCodes.MODEL_LOAD);
  });

  it('rejects a batch beyond the package bounds cleanly, and answers out of memory with OUT_OF_MEMORY', async () => {
    const pool = await open('mlp-cuda.pt2', { batching: false, unhealthyAfter: 0 });
    expect(await codeOf(pool.infer(mlpInput(2048)))).toBe(ErrorCodes.FORWARD); // max 1024 rows
    const resnet = await open('resnet50-fp32.pt2', { batching: false, unhealthyAfter: 0 });
    // A real out-of-memory: another process takes all but 3 GiB of the GPU, then a batch of 2048
    // images (the package's largest; its activations need several GiB) cannot get its buffers.
    const hog = spawn('python3', ['-c', [
      'import sys, torch',
      'free, _ = torch.cuda.mem_get_info()',
      'x = torch.empty(free - 3 * 2**30, dtype=torch.uint8, device="cuda")',
      'print("ready", flush=True)',
      'sys.stdin.read()',
    ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        hog.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
        hog.on('exit', (code) => reject(new Error(`the memory-holding process exited (${code})`)));
      });
      const huge = { data: new Float32Array(2048 * 3 * 224 * 224), shape: [2048, 3, 224, 224] };
      expect(await codeOf(resnet.infer(huge))).toBe(ErrorCodes.OUT_OF_MEMORY);
    } finally {
      hog.stdin!.end();
      hog.kill();
    }
    const ok = await resnet.infer<OutputTensor>({ data: randomFloats(3 * 224 * 224, 3), shape: [1, 3, 224, 224] });
    expect(ok.shape).toEqual([1, 1000]);
    expect((await pool.infer<OutputTensor>(mlpInput(2))).shape).toEqual([2, 10]);
  }, 120_000);
});
