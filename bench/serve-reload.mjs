#!/usr/bin/env node
// Reliability of `torchpool serve` while its models change: a load run at 64 connections while the
// model is reloaded every 5 s through the repository API (requests sent, succeeded, failed; p99
// during reloads against the rest), the server's RSS over 50 reloads, and gRPC against HTTP on
// the same model. The server runs as a child process (as deployed) with a model repository in
// explicit control mode. Writes bench/data/serve-reload-<cpu|gpu>.json.
//   node bench/serve-reload.mjs [--quick]
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import autocannon from 'autocannon';
import torchpool from '../dist/index.js';
import serve from '../dist/serve/index.js';
import { percentile, root } from './measure.mjs';
import { startServe } from './serve-process.mjs';

const require = (await import('node:module')).createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');

const quick = process.argv.includes('--quick');
const gpu = torchpool.listDevices().some((d) => d.type === 'cuda');
const devices = gpu ? 'cuda' : 'cpu';
const CONNECTIONS = 64;
const RUN_S = quick ? 12 : 60;
const RELOAD_EVERY_S = 5;
const RELOADS_FOR_RSS = quick ? 10 : 50;

// A repository holding the built-in MLP as model "mlp", version 1.
const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-reload-'));
fs.mkdirSync(path.join(repo, 'mlp', '1'), { recursive: true });
fs.copyFileSync(await torchpool.builtinModelPath('mlp', { cacheDir: path.join(root, '.cache', 'models') }), path.join(repo, 'mlp', '1', 'model.pt'));
fs.writeFileSync(path.join(repo, 'mlp', 'config.json'), JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 256] }], pool: { maxQueueDelayMicros: 500 } }));

const { child, url, grpcAddress } = await startServe(['--grpc-port', '0', '--devices', devices,
  '--model-repository', repo, '--model-control-mode', 'explicit', '--load-model', 'mlp', '--max-queue-size', '100000']);

const x = new Float32Array(256).fill(0.25);
const body = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 256], datatype: 'FP32', data: Array.from(x) }] });
const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });

function request(method, target, payload) {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = http.request(`${url}${target}`, { method, agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, started, ended: performance.now() }));
    });
    req.on('error', (error) => resolve({ status: 0, error: error.code, started, ended: performance.now() }));
    req.end(payload);
  });
}

async function rss() {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('process_resident_memory_bytes '));
  return Number(line.split(' ')[1]);
}

// 1. Load run with a reload every 5 s.
const results = [];
const reloads = [];
let running = true;
const workers = Array.from({ length: CONNECTIONS }, async () => {
  while (running) results.push(await request('POST', '/v2/models/mlp/infer', body));
});
const reloader = (async () => {
  while (running) {
    for (let waited = 0; running && waited < RELOAD_EVERY_S * 1000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    if (!running) break;
    const r = await request('POST', '/v2/repository/models/mlp/load', '{}');
    reloads.push({ started: r.started, ended: r.ended, status: r.status });
  }
})();
const loadStart = performance.now();
await new Promise((r) => setTimeout(r, RUN_S * 1000));
running = false;
const loadSeconds = (performance.now() - loadStart) / 1000;
await Promise.all([...workers, reloader]);
// "During a reload": from its request until 0.5 s after it returned (the old pool draining).
const inReload = (r) => reloads.some((w) => r.started < w.ended + 500 && r.ended > w.started);
const ok = results.filter((r) => r.status === 200);
const latency = (rs) => (rs.length ? +percentile(rs.map((r) => r.ended - r.started), 0.99).toFixed(2) : null);
const load = {
  seconds: +loadSeconds.toFixed(1),
  connections: CONNECTIONS,
  reloads: reloads.length,
  reload_statuses: [...new Set(reloads.map((r) => r.status))],
  reload_ms_median: reloads.length ? +percentile(reloads.map((r) => r.ended - r.started), 0.5).toFixed(0) : null,
  sent: results.length,
  succeeded: ok.length,
  failed: results.length - ok.length,
  non2xx: results.filter((r) => r.status !== 200 && r.status !== 0).length,
  errors: results.filter((r) => r.status === 0).length,
  requests_per_s: +(results.length / loadSeconds).toFixed(0),
  p99_ms_during_reloads: latency(ok.filter(inReload)),
  p99_ms_otherwise: latency(ok.filter((r) => !inReload(r))),
  requests_during_reloads: ok.filter(inReload).length,
};
console.log(JSON.stringify({ load }));

// 2. RSS over reloads (no load): after 5 to settle the allocators, then after 50 more.
for (let i = 0; i < 5; i++) await request('POST', '/v2/repository/models/mlp/load', '{}');
const rssBefore = await rss();
for (let i = 0; i < RELOADS_FOR_RSS; i++) await request('POST', '/v2/repository/models/mlp/load', '{}');
const rssAfter = await rss();
const memory = { reloads: RELOADS_FOR_RSS, rss_mb_before: +(rssBefore / 2 ** 20).toFixed(1), rss_mb_after: +(rssAfter / 2 ** 20).toFixed(1), growth_mb: +((rssAfter - rssBefore) / 2 ** 20).toFixed(1) };
console.log(JSON.stringify({ memory }));

// 3. gRPC against HTTP, same model, same concurrency, one after the other.
const seconds = quick ? 4 : 10;
const httpRun = await autocannon({ url: `${url}/v2/models/mlp/infer`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: CONNECTIONS, duration: seconds });
const Client = serve.inferenceClient();
const client = new Client(grpcAddress, grpc.credentials.createInsecure());
const grpcRequest = { model_name: 'mlp', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 256] }], raw_input_contents: [Buffer.from(x.buffer)] };
const grpcLatencies = [];
let grpcErrors = 0;
const grpcDeadline = performance.now() + seconds * 1000;
const grpcStart = performance.now();
await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
  while (performance.now() < grpcDeadline) {
    const t = performance.now();
    await new Promise((resolve) => client.ModelInfer(grpcRequest, (error) => {
      if (error) grpcErrors++;
      else grpcLatencies.push(performance.now() - t);
      resolve();
    }));
  }
}));
const grpcSeconds = (performance.now() - grpcStart) / 1000;
client.close();
const protocols = [
  { protocol: 'HTTP/1.1 JSON (autocannon)', requests_per_s: +httpRun.requests.average.toFixed(0), p50_ms: httpRun.latency.p50, p99_ms: httpRun.latency.p99, errors: httpRun.errors + httpRun.non2xx },
  { protocol: 'gRPC raw tensors (@grpc/grpc-js client)', requests_per_s: +(grpcLatencies.length / grpcSeconds).toFixed(0), p50_ms: +percentile(grpcLatencies, 0.5).toFixed(2), p99_ms: +percentile(grpcLatencies, 0.99).toFixed(2), errors: grpcErrors },
];
console.log(JSON.stringify({ protocols }));

child.kill('SIGTERM');
await new Promise((r) => child.on('exit', r));
fs.rmSync(repo, { recursive: true, force: true });
const out = path.join(root, 'bench', 'data', `serve-reload-${gpu ? 'gpu' : 'cpu'}.json`);
fs.writeFileSync(out, JSON.stringify({
  machine: { date: new Date().toISOString().slice(0, 10), cpu: `${os.cpus()[0].model} (${os.availableParallelism()} cores)`, devices, node: process.version },
  command: `node bench/serve-reload.mjs${quick ? ' --quick' : ''}`,
  setup: `built-in mlp served from a model repository (explicit control mode), batch-1 JSON requests on ${CONNECTIONS} keep-alive connections from the bench process; reload = POST /v2/repository/models/mlp/load every ${RELOAD_EVERY_S} s`,
  load, memory, protocols,
}, null, 2) + '\n');
console.log(`wrote ${path.relative(root, out)}`);
