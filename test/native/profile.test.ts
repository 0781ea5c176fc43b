// pool.profile(): what the engines run, recorded on their threads while the pool keeps serving,
// as a Chrome trace and a table of operators by self time; one profile at a time; the CLI; and
// the GPU-kernel recorder (native/engine/kernel_trace.cc), started and stopped without a GPU
// (test/gpu/profile.test.ts records real kernels).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildInfo, cacheDir, ErrorCodes, InferencePool, type OutputTensor, modelPath, randomFloats } from '../support/torchpool.js';

const root = path.resolve(__dirname, '../..');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-profile-test-'));

describe('pool.profile()', () => {
  const pools: InferencePool[] = [];
  const open = async () => {
    const pool = await InferencePool.create({ model: await modelPath('mlp'), devices: ['cpu', 'cpu'], threadsPerEngine: 1 });
    pools.push(pool);
    return pool;
  };
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
    fs.rmSync(scratch, { recursive: true, force: true });
  });
  const x = { data: randomFloats(256, 1), shape: [1, 256] };

  it('records the operators the engines run while they keep serving, into a Chrome trace and a table by self time', async () => {
    const pool = await open();
    const expected = await pool.infer<OutputTensor>(x);
    let running = true;
    const answers: OutputTensor[] = [];
    const callers = Promise.all(Array.from({ length: 6 }, async () => { while (running) answers.push(await pool.infer<OutputTensor>(x)); }));
    const tracePath = path.join(scratch, 'nested', 'trace.json');
    const result = await pool.profile({ requests: 200, path: tracePath });
    running = false;
    await callers;
    expect(result.tracePath).toBe(tracePath);
    expect(result.requests).toBeGreaterThanOrEqual(200);
    expect(result.dropped).toBe(0);
    // Serving went on, with the same answers.
    expect(answers.length).toBeGreaterThanOrEqual(200);
    for (const a of answers.slice(0, 20)) expect(Array.from(a.data as Float32Array)).toEqual(Array.from(expected.data as Float32Array));
    const names = result.ops.map((o) => o.name);
    expect(names).toContain('aten::addmm'); // the MLP's Linear layers
    for (let i = 1; i < result.ops.length; i++) expect(result.ops[i - 1]!.selfMs).toBeGreaterThanOrEqual(result.ops[i]!.selfMs);
    const addmm = result.ops.find((o) => o.name === 'aten::addmm')!;
    expect(addmm.calls).toBeGreaterThanOrEqual(3);
    expect(addmm.totalMs).toBeGreaterThanOrEqual(addmm.selfMs);
    const trace = JSON.parse(fs.readFileSync(tracePath, 'utf8')) as { traceEvents: { name: string; ph: string; ts: number; dur?: number; tid: number }[] };
    const complete = trace.traceEvents.filter((e) => e.ph === 'X');
    expect(complete.filter((e) => e.name === 'aten::addmm')).toHaveLength(addmm.calls);
    expect(complete.every((e) => e.dur! >= 0 && e.ts > 0)).toBe(true);
    expect(trace.traceEvents.filter((e) => e.ph === 'M').map((e) => e.tid).sort()).toEqual([...new Set(complete.map((e) => e.tid))].sort());
    // CPU engines: no GPU side, and nothing to explain.
    expect(result.kernels).toEqual([]);
    expect(result.kernelNote).toBeUndefined();
  });

  it('records for a duration by default, into a temporary file, even when nothing runs', async () => {
    const pool = await open();
    const result = await pool.profile({ durationMs: 100 });
    expect(result.tracePath.startsWith(os.tmpdir())).toBe(true);
    expect(result.durationMs).toBeGreaterThanOrEqual(99);
    expect(result.ops).toEqual([]);
    expect(JSON.parse(fs.readFileSync(result.tracePath, 'utf8')).traceEvents).toEqual([]);
    fs.rmSync(result.tracePath);
  });

  it('refuses a second profile while one records (BUSY), and records again afterwards', async () => {
    const pool = await open();
    const first = pool.profile({ durationMs: 200, path: path.join(scratch, 'a.json') });
    const second = await pool.profile({ durationMs: 10, path: path.join(scratch, 'b.json') }).catch((e: { code: string }) => e);
    expect((second as { code: string }).code).toBe(ErrorCodes.BUSY);
    await first;
    await pool.infer(x);
    const third = await pool.profile({ durationMs: 20, path: path.join(scratch, 'c.json') });
    expect(fs.existsSync(third.tracePath)).toBe(true);
  });

  it.each([
    [{ durationMS: 10 }, /Unknown option 'durationMS' in options \(did you mean 'durationMs'\?\)/],
    [{ durationMs: -1 }, /options\.durationMs/],
    [{ requests: 0 }, /options\.requests/],
    [{ path: '' }, /options\.path/],
  ])('refuses %j with INVALID_ARG', async (options, message) => {
    const pool = await open();
    const error = await pool.profile(options as never).catch((e: { code: string; message: string }) => e);
    expect((error as { code: string }).code).toBe(ErrorCodes.INVALID_ARG);
    expect((error as { message: string }).message).toMatch(message);
  });

  it('`torchpool profile` prints the slowest operators and writes the trace', () => {
    const out = path.join(scratch, 'cli.json');
    const cli = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), 'profile', '--model', 'mlp', '--shape', '1,256', '--devices', 'cpu', '--requests', '100', '--out', out], {
      encoding: 'utf8', env: { ...process.env, TORCHPOOL_CACHE_DIR: cacheDir },
    });
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/^\d+ requests in \d+ ms on cpu; trace: /);
    expect(cli.stdout).toMatch(/^operator\s+calls\s+self ms\s+total ms$/m);
    expect(cli.stdout).toMatch(/^aten::addmm\s+\d+/m);
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).traceEvents.length).toBeGreaterThan(0);
    const usage = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), 'profile', '--modle', 'mlp'], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain("unknown option '--modle' (did you mean '--model'?)");
  });
});

describe('GPU-kernel recording, without a GPU', () => {
  const run = (command: string, args: string[]) => {
    const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', timeout: 280_000 });
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
    return result.stdout;
  };

  it('starts and stops safely where the GPU ran nothing, says why, and keeps one trace per process', () => {
    run('cmake', ['--build', 'build', '--target', 'torchpool-kernel-trace-check', '--parallel', '2']);
    const seen = JSON.parse(run(path.join(root, 'build', 'checks', 'torchpool-kernel-trace-check'), [])) as Record<string, unknown>;
    // Unstarted: nothing, and no reason needed.
    expect(seen.unstartedEvents).toBe(0);
    expect(seen.unstartedWhy).toBe('');
    if (!buildInfo().kernelProfiler) {
      expect(seen).toMatchObject({ firstStarted: false, firstWhy: 'this libtorch has no Kineto profiler API', events: 0 });
      return;
    }
    // Debian's libtorch 1.13 has the API but no Kineto: it starts, records no GPU activity, and says so.
    expect(seen.firstStarted).toBe(true);
    expect(seen.firstWhy).toBe('');
    expect(seen.secondStarted).toBe(false);
    expect(seen.secondWhy).toMatch(/another pool of this process is recording GPU kernels/);
    expect(seen.events).toBe(0);
    expect(seen.stopWhy).toMatch(/recorded no GPU activity/);
    // Stopped, the process's trace is free for the next one.
    expect(seen.againStarted).toBe(true);
    expect(seen.againEvents).toBe(0);
  }, 300_000);
});
