#!/usr/bin/env node
// The JavaScript cost of one request in `torchpool serve` on one HTTP thread: the server runs in a
// child process with V8's CPU profiler on during a fixed autocannon run (bench/profile-hook.cjs);
// busy samples of the main thread / requests = microseconds of JS (parsing, validation, tensor
// conversion, fastify, the HTTP parser) per request. Also lists the hottest functions.
// Batch-1 MLP requests, JSON and binary tensors. Writes bench/data/serve-profile-<cpu|gpu>.json.
//   node bench/serve-profile.mjs [--quick] [--label before]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import autocannon from 'autocannon';
import torchpool from '../dist/index.js';
import { root } from './measure.mjs';
import { startServe } from './serve-process.mjs';

const quick = process.argv.includes('--quick');
const labelAt = process.argv.indexOf('--label');
const label = labelAt > 0 ? process.argv[labelAt + 1] : 'current';
const gpu = torchpool.listDevices().some((d) => d.type === 'cuda');
const devices = gpu ? 'cuda' : 'cpu';
const requests = quick ? 5000 : 30000;

function startServer() {
  return startServe(['--devices', devices, '--model', 'mlp=mlp', '--max-queue-size', '100000'],
    { nodeArgs: ['--require', path.join(root, 'bench', 'profile-hook.cjs')], ipc: true });
}

const ask = (child, message, reply) => new Promise((resolve) => {
  child.on('message', function onMessage(m) {
    if (m.type === reply) {
      child.off('message', onMessage);
      resolve(m);
    }
  });
  child.send(message);
});

/** Busy time of the profiled thread (not idle), and self time per function. */
function analyse(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let busy = 0;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const node = byId.get(profile.samples[i]);
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') continue;
    busy += dt;
    const where = node.callFrame.url ? `${path.basename(node.callFrame.url)}:${node.callFrame.lineNumber + 1}` : '';
    const key = `${name} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([fn, us]) => ({ fn, share: +(us / busy).toFixed(3) }));
  return { busyUs: busy, totalUs: total, top };
}

const x = new Float32Array(256).fill(0.25);
const jsonBody = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 256], datatype: 'FP32', data: Array.from(x) }] });
const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 256], datatype: 'FP32', parameters: { binary_data_size: 1024 } }], parameters: { binary_data_output: true } }));
const binaryBody = Buffer.concat([header, Buffer.from(x.buffer)]);

const rows = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-profile-'));
for (const encoding of ['json', 'binary']) {
  const { child, url } = await startServer();
  const request = encoding === 'json'
    ? { headers: { 'content-type': 'application/json' }, body: jsonBody }
    : { headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) }, body: binaryBody };
  const target = { url: `${url}/v2/models/mlp/infer`, method: 'POST', ...request, connections: 16 };
  await autocannon({ ...target, amount: 2000 }); // warm the JIT
  await ask(child, { type: 'start' }, 'started');
  const result = await autocannon({ ...target, amount: requests });
  const { file } = await ask(child, { type: 'stop', file: path.join(dir, `${encoding}.cpuprofile`) }, 'stopped');
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  const { busyUs, totalUs, top } = analyse(JSON.parse(fs.readFileSync(file, 'utf8')));
  const done = result.requests.total;
  const row = {
    encoding, requests: done, non2xx: result.non2xx, requests_per_s: result.requests.average,
    js_us_per_request: +(busyUs / done).toFixed(1), js_thread_busy: +(busyUs / totalUs).toFixed(3), top,
  };
  console.log(JSON.stringify({ ...row, top: row.top.slice(0, 5) }));
  rows.push(row);
}
const out = path.join(root, 'bench', 'data', `serve-profile-${gpu ? 'gpu' : 'cpu'}-${label}.json`);
fs.writeFileSync(out, JSON.stringify({
  machine: { date: new Date().toISOString().slice(0, 10), cpu: `${os.cpus()[0].model} (${os.availableParallelism()} cores)`, devices, node: process.version },
  command: `node bench/serve-profile.mjs${quick ? ' --quick' : ''} --label ${label}`,
  model: 'built-in mlp, one row per request; 16 connections; V8 CPU profile of the HTTP thread (100 us sampling) over the measured requests', rows,
}, null, 2) + '\n');
console.log(`wrote ${path.relative(root, out)}`);
