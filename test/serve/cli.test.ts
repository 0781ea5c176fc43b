// `torchpool serve` as users run it: a child process, real signals, a real load generator.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import autocannon from 'autocannon';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonInput, post } from '../support/serve.js';

const cli = path.resolve(__dirname, '../../dist/cli.js');

interface Child {
  process: ChildProcess;
  url: string;
  stderr: () => string;
  exit: Promise<number | null>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

async function serve(args: string[]): Promise<Child> {
  const child = spawn(process.execPath, [cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--devices', 'cpu', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 30_000);
    child.stderr!.on('data', () => {
      const match = /listening on (http:\/\/[^;\s]+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exit.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return { process: child, url, stderr: () => stderr, exit };
}

function configFile(config: unknown): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-serve-')), 'config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

describe('torchpool serve (CLI)', () => {
  it('drains in-flight requests on SIGTERM, turns readiness off, and exits 0', async () => {
    const config = configFile({ models: { slow: { path: 'cost', constants: { iters: 15000 }, pool: { batching: false, threadsPerEngine: 1 } } } });
    const server = await serve(['--config', config]);
    const body = { inputs: [jsonInput('x', [1, 64], 'FP32', new Array(64).fill(0.1))] };
    expect((await fetch(`${server.url}/v2/health/ready`)).status).toBe(200);
    const inFlight = Array.from({ length: 3 }, () => post(`${server.url}/v2/models/slow/infer`, body));
    await new Promise((r) => setTimeout(r, 150));
    server.process.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 50));
    const ready = await fetch(`${server.url}/v2/health/ready`).then((r) => r.status, () => 'refused');
    expect(ready).not.toBe(200);
    const statuses = (await Promise.all(inFlight)).map((r) => r.status);
    expect(statuses).toEqual([200, 200, 200]);
    expect(await server.exit).toBe(0);
    expect(server.stderr()).toMatch(/SIGTERM: draining/);
    expect(server.stderr()).toMatch(/stopped/);
  });

  it('exits 2 with usage for bad arguments and 1 when a model cannot be loaded', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'serve', ...args], { encoding: 'utf8', timeout: 30_000 });
    for (const args of [[], ['--model', 'nonsense'], ['--model', 'a=mlp', '--port', 'http'], ['--model', 'bad/name=mlp'], ['--frobnicate'],
      ['--model', 'a=mlp', '--threads', '0'], ['--model', 'a=mlp', '--grpc-port', '-1'], ['--model-repository', '/nonexistent'],
      ['--model', 'a=mlp', '--model-control-mode', 'sometimes'], ['--model', 'a=mlp', '--load-model', 'a']]) {
      const child = run(...args);
      expect(child.status, args.join(' ')).toBe(2);
      expect(child.stderr).toMatch(/Usage: torchpool serve/);
    }
    const missing = run('--model', 'a=/nonexistent/model.pt', '--port', '0');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/cannot load the models: .*not found/);
    const help = run('--help').stdout;
    for (const flag of ['--max-body-size', '--threads', '--model-repository', '--model-control-mode', '--load-model', '--grpc-port']) expect(help).toContain(flag);
  });

  it('serves a load run from autocannon without errors, with and without dynamic batching', async () => {
    const body = JSON.stringify({ inputs: [jsonInput('x', [1, 256], 'FP32', new Array(256).fill(0.25))] });
    for (const batching of ['32', '0']) {
      const server = await serve(['--model', `mlp=mlp`, '--max-batch-size', batching]);
      const result = await autocannon({ url: `${server.url}/v2/models/mlp/infer`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: 16, amount: 200 });
      // A fixed request count, not a duration: on a shared 2-core VM a one-second run can
      // finish fewer requests than any threshold, and speed is the benches' job.
      expect(result.errors).toBe(0);
      expect(result.timeouts).toBe(0);
      expect(result.non2xx).toBe(0);
      expect(result['2xx']).toBe(200);
      server.process.kill('SIGTERM');
      expect(await server.exit).toBe(0);
    }
  });
});
