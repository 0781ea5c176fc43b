// The multi-device path on the one GPU a test machine has: a pool mixing cuda:0 and the CPU
// (engines of very different speed behind one queue), CUDA contexts as the driver sees them,
// and the defects that only show with several engines or GPUs (OOM during another engine's
// capture, failed captures, pinned allocation in steady state). Skipped without CUDA.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes, InferencePool, type OutputTensor, buildInfo, cacheDir, codeOf, listDevices, maxRelativeError, modelPath, randomFloats,
} from '../support/torchpool.js';

const gpus = listDevices().filter((d) => d.type === 'cuda');
const reason = gpus.length === 0 ? `no CUDA device (${buildInfo().cuda ? 'CUDA build' : 'CPU-only libtorch build'})` : '';
const dist = path.resolve(__dirname, '../../dist/index.js');
const cli = path.resolve(__dirname, '../../dist/cli.js');

/** The processes holding a CUDA context, once per GPU, as the driver reports them. */
function contextsOf(pid: number): number {
  const smi = spawnSync('nvidia-smi', ['--query-compute-apps=pid', '--format=csv,noheader'], { encoding: 'utf8' });
  if (smi.status !== 0) throw new Error(`nvidia-smi failed: ${smi.stderr}`);
  return smi.stdout.split('\n').filter((line) => Number(line.trim()) === pid).length;
}

/** Runs `script` in a child Node process that prints 'ready' and waits; returns its context count then. */
async function contextsWhile(script: string): Promise<number> {
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
      child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    // The driver updates its process list asynchronously.
    await new Promise((r) => setTimeout(r, 500));
    return contextsOf(child.pid as number);
  } finally {
    child.kill();
  }
}

describe.skipIf(gpus.length === 0)(`several devices behind one queue${reason ? ` [skipped: ${reason}]` : ''}`, () => {
  const pools: InferencePool[] = [];
  afterAll(async () => { await Promise.all(pools.map((p) => p.close())); });
  const open = async (name: string, options: object) => {
    const pool = await InferencePool.create({ model: await modelPath(name), ...options });
    pools.push(pool);
    return pool;
  };
  let resnet: string;
  beforeAll(async () => { resnet = await modelPath('resnet18'); });

  it('lists devices without creating a CUDA context, and a pool on cuda:0 creates exactly one', async () => {
    const listing = `const t = require(${JSON.stringify(dist)}); t.listDevices(); console.log('ready'); setInterval(() => {}, 1000);`;
    expect(await contextsWhile(listing)).toBe(0);
    const pooled = `const t = require(${JSON.stringify(dist)});
      t.InferencePool.create({ model: ${JSON.stringify(resnet)}, devices: ['cuda:0'] }).then(async (p) => {
        await p.infer({ data: new Float32Array(3 * 64 * 64), shape: [1, 3, 64, 64] });
        p.stats(); t.listDevices();
        console.log('ready'); setInterval(() => {}, 1000);
      });`;
    expect(await contextsWhile(pooled)).toBe(1);
  });

  it('mixes cuda:0 and the CPU: both match the CPU reference and the GPU takes most of the work', async () => {
    const cpu = await open('resnet18', { devices: 'cpu' });
    const mixed = await open('resnet18', { devices: ['cuda:0', 'cpu'], batching: false });
    const images = Array.from({ length: 8 }, (_, i) => ({ data: randomFloats(2 * 3 * 64 * 64, 40 + i), shape: [2, 3, 64, 64] }));
    const reference = await Promise.all(images.map((x) => cpu.infer<OutputTensor>(x)));
    const outputs = await Promise.all(Array.from({ length: 400 }, (_, i) => mixed.infer<OutputTensor>(images[i % 8]!)));
    outputs.forEach((out, i) => {
      // cuDNN may use TF32 convolutions on the GPU engine.
      expect(maxRelativeError(out.data as Float32Array, reference[i % 8]!.data as Float32Array)).toBeLessThan(1e-2);
    });
    const [gpu, host] = mixed.stats().engines;
    expect(gpu!.device).toBe('cuda:0');
    expect(host!.device).toBe('cpu');
    expect(gpu!.requests + host!.requests).toBe(400);
    expect(host!.requests).toBeGreaterThan(0);
    expect(gpu!.requests).toBeGreaterThan(host!.requests);
  });

  it('keeps serving on the other engine when one of a mixed pool is taken out', async () => {
    const pool = await open('faulty', { devices: ['cuda:0', 'cpu'], unhealthyAfter: 1, batching: false });
    const out = new Promise<{ device: string }>((resolve) => pool.once('engineUnhealthy', resolve));
    // NaN asks for petabytes: an out-of-memory error on whichever engine runs it.
    expect(await codeOf(pool.infer({ data: new Float32Array([NaN]), shape: [1] }))).toBe(ErrorCodes.OUT_OF_MEMORY);
    const lost = await out;
    expect(['cuda:0', 'cpu']).toContain(lost.device);
    for (let i = 0; i < 20; i++) {
      const y = await pool.infer<OutputTensor>({ data: new Float32Array([i]), shape: [1] });
      expect(Array.from(y.data as Float32Array)).toEqual([2 * i]);
    }
    const stats = pool.stats();
    expect(stats.healthyEngines).toBe(1);
    expect(stats.engines.find((e) => e.device !== lost.device)!.requests).toBeGreaterThanOrEqual(20);
  });

  it('survives out-of-memory errors while another engine captures CUDA graphs', async () => {
    // The OOM handler used to empty every GPU's cache, which asserts while any capture runs.
    const capturing = await open('mlp', { devices: ['cuda:0'], cudaGraphs: true, maxCudaGraphs: 256, batching: false });
    const failing = await open('faulty', { devices: ['cuda:0'], unhealthyAfter: 0, batching: false });
    const captures: Promise<unknown>[] = [];
    for (let rows = 1; rows <= 120; rows++) {
      const x = { data: randomFloats(rows * 256, rows), shape: [rows, 256] };
      // Third run of a shape: captured.
      captures.push((async () => { for (let k = 0; k < 3; k++) await capturing.infer(x); })());
    }
    const ooms = Array.from({ length: 200 }, () => codeOf(failing.infer({ data: new Float32Array([NaN]), shape: [1] })));
    await Promise.all(captures);
    expect(new Set(await Promise.all(ooms))).toEqual(new Set([ErrorCodes.OUT_OF_MEMORY]));
    expect(capturing.stats().engines[0]!.cuda!.graphs.captured).toBeGreaterThan(50);
    expect((await failing.infer<OutputTensor>({ data: new Float32Array([4]), shape: [1] })).data).toEqual(new Float32Array([8]));
  });

  it('does not leak device memory after a capture fails', async () => {
    // 'raises' syncs with the host in forward, which invalidates the capture.
    const pool = await open('raises', { devices: ['cuda:0'], cudaGraphs: true });
    const x = { data: new Float32Array(4096).fill(1), shape: [4096] };
    for (let i = 0; i < 5; i++) await pool.infer(x);
    expect(pool.stats().engines[0]!.cuda!.graphs.disabledReason).toMatch(/capture failed/);
    const before = pool.stats().engines[0]!.cuda!.memory.allocatedBytes;
    for (let i = 0; i < 2000; i++) await pool.infer(x);
    const after = pool.stats().engines[0]!.cuda!.memory.allocatedBytes;
    // 2000 requests of 16 KB in and out: a leak would hold tens of MB.
    expect(after - before).toBeLessThan(4 * 2 ** 20);
  });

  it('sizes the pinned pool at warmup so that merged batches never allocate pinned memory', async () => {
    const pool = await open('mlp', { devices: ['cuda:0'], warmup: [{ shape: [1, 256] }], maxBatchSize: 32, maxQueueDelayMicros: 2000 });
    const afterWarmup = pool.stats().engines[0]!.cuda!.pinned.allocations;
    expect(afterWarmup).toBeGreaterThan(0);
    const x = { data: randomFloats(256, 9), shape: [1, 256] };
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 1 + ((round * 7) % 64) }, () => pool.infer(x)));
    }
    const stats = pool.stats();
    expect(stats.meanBatchSize).toBeGreaterThan(1);
    expect(stats.engines[0]!.cuda!.pinned.allocations).toBe(afterWarmup);
    expect(stats.engines[0]!.cuda!.pinned.fallbacks).toBe(0);
  });

  it('reports each engine\'s share of the work with `torchpool bench --devices cuda:0,cpu`', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-mixed-'));
    const child = spawnSync(process.execPath, [cli, 'bench', '--model', 'resnet18', '--input-shape', '3,64,64', '--devices', 'cuda:0,cpu',
      '--batch', '4', '--concurrency', '8', '--requests', '200', '--warmup', '10', '--no-scaling', '--out', out, '--json'],
    { encoding: 'utf8', timeout: 300_000, env: { ...process.env, TORCHPOOL_CACHE_DIR: cacheDir } });
    expect(child.status).toBe(0);
    const report = JSON.parse(child.stdout);
    expect(report.mixed.alone.map((a: { device: string }) => a.device)).toEqual(['cuda:0', 'cpu']);
    const [gpu, host] = report.mixed.together.engines as { device: string; share: number }[];
    expect(gpu!.device).toBe('cuda:0');
    expect(gpu!.share).toBeGreaterThan(host!.share);
    expect(report.mixed.together.itemsPerSecond).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/## Mixed devices/);
  }, 320_000);
});
