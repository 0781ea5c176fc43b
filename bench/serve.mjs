#!/usr/bin/env node
// Load run against `torchpool serve` on loopback with autocannon: the server in a child process
// (as deployed), autocannon in this one. Batch-1 MLP requests, JSON and binary, with and without
// dynamic batching; then the same with --threads 1, 2, ... (HTTP threads sharing one set of
// engines). Writes bench/data/serve-<cpu|gpu>.json.   node bench/serve.mjs [--quick]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import autocannon from 'autocannon';
import torchpool from '../dist/index.js';
import { root } from './measure.mjs';
import { startServe } from './serve-process.mjs';

const quick = process.argv.includes('--quick');
const gpu = torchpool.listDevices().some((d) => d.type === 'cuda');
const devices = gpu ? 'cuda' : 'cpu';
const duration = quick ? 2 : 6;
const connections = 64;

const cores = os.availableParallelism();
// On a machine with many cores one autocannon thread would be the bottleneck, not the server.
const loadWorkers = cores >= 8 ? Math.min(8, Math.floor(cores / 4)) : 0;
const threadCounts = gpu || cores >= 8 ? [1, 2, 4, 8, 16].filter((t) => t <= cores) : [1, 2];

function startServer(maxBatchSize, threads = 1) {
  return startServe(['--devices', devices, '--model', 'mlp=mlp', '--max-batch-size', String(maxBatchSize), '--max-queue-size', '100000', '--threads', String(threads)]);
}

function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{model="mlp"`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

// 0.125 is 00 00 00 3e in float32: every byte of the binary body is ASCII, so it can travel as a
// string to autocannon's worker threads (a Buffer arrives there as a plain Uint8Array, which
// autocannon refuses) and be encoded back to the very same bytes.
const x = new Float32Array(256).fill(0.125);
const jsonBody = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 256], datatype: 'FP32', data: Array.from(x) }] });
const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 256], datatype: 'FP32', parameters: { binary_data_size: 1024 } }], parameters: { binary_data_output: true } }));
const binaryBytes = Buffer.concat([header, Buffer.from(x.buffer)]);
if (binaryBytes.some((b) => b >= 0x80)) throw new Error('serve bench: the binary body must be ASCII bytes');
const binaryBody = binaryBytes.toString('latin1');

/** One autocannon run against a fresh server. */
async function measure(encoding, maxBatchSize, threads) {
  const { child, url } = await startServer(maxBatchSize, threads);
  const request = encoding === 'json'
    ? { headers: { 'content-type': 'application/json' }, body: jsonBody }
    : { headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) }, body: binaryBody };
  const target = { url: `${url}/v2/models/mlp/infer`, method: 'POST', ...request, connections, ...(loadWorkers ? { workers: loadWorkers } : {}) };
  await autocannon({ ...target, duration: 1 }); // warmup
  const before = await (await fetch(`${url}/metrics`)).text();
  const result = await autocannon({ ...target, duration });
  const after = await (await fetch(`${url}/metrics`)).text();
  const execs = metric(after, 'nv_inference_exec_count') - metric(before, 'nv_inference_exec_count');
  const inferences = metric(after, 'nv_inference_count') - metric(before, 'nv_inference_count');
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  const row = {
    encoding, threads, batching: maxBatchSize > 0, maxBatchSize, connections, duration_s: duration,
    requests_per_s: result.requests.average, latency_p50_ms: result.latency.p50, latency_p90_ms: result.latency.p90, latency_p99_ms: result.latency.p99,
    non2xx: result.non2xx, errors: result.errors, mean_batch: execs > 0 ? inferences / execs : 0,
  };
  console.log(JSON.stringify(row));
  return row;
}

const rows = [];
for (const [encoding, maxBatchSize] of [['json', 32], ['json', 0], ['binary', 32], ['binary', 0]]) rows.push(await measure(encoding, maxBatchSize, 1));
// HTTP threads: the rows above are the threads = 1 points of this sweep (batching on).
const threadRows = [];
for (const encoding of ['binary', 'json']) {
  for (const threads of threadCounts) {
    threadRows.push(threads === 1 ? rows.find((r) => r.encoding === encoding && r.batching) : await measure(encoding, 32, threads));
  }
}
const out = path.join(root, 'bench', 'data', `serve-${gpu ? 'gpu' : 'cpu'}.json`);
fs.writeFileSync(out, JSON.stringify({
  machine: { date: new Date().toISOString().slice(0, 10), cpu: `${os.cpus()[0].model} (${os.availableParallelism()} cores)`, devices, node: process.version },
  command: `node bench/serve.mjs${quick ? ' --quick' : ''}`,
  model: 'built-in mlp (256-1024-1024-10), one row per request',
  autocannon: `${connections} connections, ${duration} s per row after a 1 s warmup${loadWorkers ? `, ${loadWorkers} autocannon worker threads` : ''}`, rows, threadRows,
}, null, 2) + '\n');
console.log(`wrote ${path.relative(root, out)}`);
