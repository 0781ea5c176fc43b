// `torchpool serve --threads N`: several HTTP threads on one port, one set of engines. Checks the
// answers, that the port's connections reach every thread, that requests of different threads
// share batches, one /metrics view, readiness, and a SIGTERM drain across threads with no
// request lost.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jsonInput, parseMetrics, post, type Running, startServer } from '../support/serve.js';

const cli = path.resolve(__dirname, '../../dist/cli.js');
const x = { inputs: [jsonInput('x', [1, 256], 'FP32', Array.from({ length: 256 }, (_, i) => Math.sin(i) / 4))] };

/** POSTs on fresh connections (no keep-alive), so the kernel spreads them over the threads. */
function postFresh(url: string, body: unknown): Promise<{ status: number; json: () => { outputs: { data: number[] }[] } }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(`${url}/v2/models/mlp/infer`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, json: () => JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    request.on('error', reject);
    request.end(text);
  });
}

describe('serve with several HTTP threads', () => {
  let single: Running;
  let threaded: Running;
  beforeAll(async () => {
    single = await startServer([{ name: 'mlp', path: 'mlp' }]);
    threaded = await startServer([{ name: 'mlp', path: 'mlp', pool: { maxQueueDelayMicros: 2000 } }], { threads: 4 });
  });
  afterAll(async () => {
    await Promise.all([single.server.shutdown(), threaded.server.shutdown()]);
  });

  it('answers like one thread, from every thread, with one set of engines and shared batches', async () => {
    expect(threaded.server.threads).toBe(4);
    const expected = (await post(`${single.url}/v2/models/mlp/infer`, x)).json().outputs[0].data as number[];
    const responses = await Promise.all(Array.from({ length: 200 }, () => postFresh(threaded.url, x)));
    for (const response of responses) {
      expect(response.status).toBe(200);
      response.json().outputs[0]!.data.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 4));
    }
    const metrics = parseMetrics(await (await fetch(`${threaded.url}/metrics`)).text());
    // One view of the whole server: the threads' counters summed.
    expect(metrics.get('nv_inference_request_success{model="mlp",version="1"}')).toBe(200);
    const perThread = [0, 1, 2, 3].map((t) => metrics.get(`torchpool_http_thread_requests{thread="${t}"}`) ?? 0);
    expect(perThread.reduce((a, b) => a + b, 0)).toBe(200);
    expect(perThread.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    // Requests that arrived on different threads met in the one queue: fewer forwards than requests.
    const forwards = metrics.get('nv_inference_exec_count{model="mlp",version="1"}')!;
    expect(forwards).toBeLessThan(200);
    // One replica: the engines were loaded once, in the owner thread.
    expect(threaded.server.models.get('mlp')!.pool.stats().engines).toHaveLength(1);
  });

  it('reports readiness and model metadata from any thread', async () => {
    for (let i = 0; i < 8; i++) {
      expect((await fetch(`${threaded.url}/v2/health/ready`)).status).toBe(200);
      const meta = await (await fetch(`${threaded.url}/v2/models/mlp`)).json() as { inputs: { shape: number[] }[] };
      expect(meta.inputs[0]!.shape).toEqual([-1, 256]);
    }
  });
});

describe('torchpool serve --threads (CLI)', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('drains every thread on SIGTERM: in-flight requests answered, readiness off, exit 0', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-threads-'));
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ threads: 3, models: { slow: { path: 'cost', constants: { iters: 15000 }, pool: { batching: false, threadsPerEngine: 1 } } } }));
    const child = spawn(process.execPath, [cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--devices', 'cpu', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', () => {
        const match = /listening on (http:\/\/[^;\s]+)/.exec(stderr);
        if (match) resolve(match[1]!);
      });
      void exit.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    });
    expect(stderr).toMatch(/3 HTTP threads/);
    const body = { inputs: [jsonInput('x', [1, 64], 'FP32', new Array(64).fill(0.1))] };
    const inFlight = Array.from({ length: 6 }, () => new Promise<number>((resolve, reject) => {
      const text = JSON.stringify(body);
      const request = http.request(`${url}/v2/models/slow/infer`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': text.length } }, (r) => {
        r.resume();
        r.on('end', () => resolve(r.statusCode ?? 0));
      });
      request.on('error', reject);
      request.end(text);
    }));
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 50));
    const ready = await fetch(`${url}/v2/health/ready`).then((r) => r.status, () => 'refused');
    expect(ready).not.toBe(200);
    expect(await Promise.all(inFlight)).toEqual(Array(6).fill(200));
    expect(await exit).toBe(0);
    expect(stderr).toMatch(/stopped/);
  });
});
