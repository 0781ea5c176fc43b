// pool.profile() on CUDA engines: the GPU's own activity (kernels, copies) recorded through
// libtorch's Kineto profiler beside the engine threads' operators, in the table and the trace.
// Runs on a machine with a CUDA device and a CUDA libtorch; skipped with a reason elsewhere.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InferencePool, buildInfo, listDevices, modelPath, randomFloats } from '../support/torchpool.js';

const gpus = listDevices().filter((d) => d.type === 'cuda');
const reason = gpus.length === 0 ? 'no CUDA device' : !buildInfo().kernelProfiler ? 'libtorch without the Kineto profiler API' : '';
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-gpu-profile-'));

describe.skipIf(reason !== '')(`pool.profile() on CUDA engines${reason ? ` [skipped: ${reason}]` : ''}`, () => {
  const pools: InferencePool[] = [];
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
    fs.rmSync(scratch, { recursive: true, force: true });
  });
  const open = async () => {
    const pool = await InferencePool.create({ model: await modelPath('mlp'), devices: ['cuda:0'] });
    pools.push(pool);
    return pool;
  };
  const x = { data: randomFloats(8 * 256, 5), shape: [8, 256] };

  it('records the kernels the GPU ran, by GPU time, on a track of their own', async () => {
    const pool = await open();
    await pool.infer(x);
    let running = true;
    const callers = Promise.all(Array.from({ length: 4 }, async () => { while (running) await pool.infer(x); }));
    const tracePath = path.join(scratch, 'gpu.json');
    const result = await pool.profile({ requests: 100, path: tracePath });
    running = false;
    await callers;
    expect(result.kernelNote).toBeUndefined();
    expect(result.kernels.length).toBeGreaterThan(0);
    for (const k of result.kernels) {
      expect(k.device).toBe(0);
      expect(k.calls).toBeGreaterThan(0);
      expect(k.totalMs).toBeGreaterThanOrEqual(0);
    }
    for (let i = 1; i < result.kernels.length; i++) expect(result.kernels[i - 1]!.totalMs).toBeGreaterThanOrEqual(result.kernels[i]!.totalMs);
    // The MLP's matrix multiplies ran on the GPU at least once per request that was recorded.
    const calls = result.kernels.reduce((n, k) => n + k.calls, 0);
    expect(calls).toBeGreaterThanOrEqual(100);
    const trace = JSON.parse(fs.readFileSync(tracePath, 'utf8')) as { traceEvents: { name: string; cat?: string; ph: string; tid: number; ts: number; args?: { name: string } }[] };
    const kernels = trace.traceEvents.filter((e) => e.cat === 'kernel');
    expect(kernels).toHaveLength(calls);
    const tracks = trace.traceEvents.filter((e) => e.ph === 'M').map((e) => e.args!.name);
    expect(tracks).toContain('GPU cuda:0');
    // Kernels sit in time beside the operators that launched them (same clock, within the profile).
    const ops = trace.traceEvents.filter((e) => e.cat === 'cpu_op');
    const first = Math.min(...ops.map((e) => e.ts));
    const last = Math.max(...ops.map((e) => e.ts));
    const inside = kernels.filter((k) => k.ts >= first - 50_000 && k.ts <= last + 50_000);
    expect(inside.length / kernels.length).toBeGreaterThan(0.9);
    expect(result.ops.length).toBeGreaterThan(0);
  });

  it('records kernels for one pool of the process at a time, and says so to the other', async () => {
    const [a, b] = [await open(), await open()];
    const first = a.profile({ durationMs: 300, path: path.join(scratch, 'a.json') });
    const second = await b.profile({ durationMs: 50, path: path.join(scratch, 'b.json') });
    expect(second.kernels).toEqual([]);
    expect(second.kernelNote).toMatch(/another pool of this process is recording GPU kernels/);
    await first;
    // Free again once the first stopped.
    await b.infer(x);
    const third = b.profile({ durationMs: 200, path: path.join(scratch, 'c.json') });
    await b.infer(x);
    expect((await third).kernelNote).toBeUndefined();
  });
});
