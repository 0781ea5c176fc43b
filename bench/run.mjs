#!/usr/bin/env node
// Runs the benchmark suites and writes bench/data/<suite>.json; bench/report.mjs turns the
// data files into BENCHMARKS.md.   node bench/run.mjs [--suite cpu|gpu|auto] [--quick]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import torchpool from '../dist/index.js';
import { gpuSuite } from './gpu.mjs';
import { cpuTimes, median, onnxPeer, oursVsRaw, pythonPeer, root, worstIntervalGap } from './measure.mjs';
import * as scheduler from './scheduler.mjs';

const { InferencePool, buildInfo, builtinModelPath, listDevices } = torchpool;
const argv = process.argv.slice(2);
const flag = (name, fallback) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : fallback; };
const quick = argv.includes('--quick');
const gpus = listDevices().filter((d) => d.type === 'cuda');
const suite = flag('suite', 'auto') === 'auto' ? (gpus.length ? 'gpu' : 'cpu') : flag('suite');
const cacheDir = path.join(root, '.cache', 'models');
const model = (name) => builtinModelPath(name, { cacheDir });
const cores = os.availableParallelism();
const repeats = quick ? 1 : 3;

// CPU time stolen by the hypervisor over the run, so a noisy VM says so in the report.
const cpuAtStart = cpuTimes();

function machine() {
  const cpu = listDevices()[0];
  return {
    date: new Date().toISOString().slice(0, 10),
    host: os.hostname(),
    cpu: `${cpu.name} (${cores} cores)`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    gpus: gpus.map((g) => `${g.name} (${Math.round(g.totalMemory / 2 ** 30)} GiB, sm ${g.computeCapability})`),
    node: process.version,
    libtorch: `${buildInfo().torchVersion} (${buildInfo().torchOrigin}${buildInfo().cuda ? ', CUDA' : ''})`,
    command: `node bench/run.mjs --suite ${suite}${quick ? ' --quick' : ''}`,
    stealPercent: stealSinceStart(),
  };
}

function stealSinceStart() {
  const now = cpuTimes();
  if (!cpuAtStart || !now || now.total === cpuAtStart.total) return undefined;
  return (100 * (now.steal - cpuAtStart.steal)) / (now.total - cpuAtStart.total);
}

// Each case: torchpool and raw C++ on the same file, repeated; medians of per-run p50s.
async function latencyCase({ name, modelName, device, shape, intArg, threads, iters, warmup, peer = false, poolOptions = {}, half = false, pinnedInput = false }) {
  const file = await model(modelName);
  const pool = await InferencePool.create({ model: file, devices: [device], threadsPerEngine: threads, ...poolOptions });
  const measured = await oursVsRaw(pool, { file, device, shape, intArg, threads, iters, warmup, repeats, half, pinnedInput });
  await pool.close();
  const row = { name, device, shape, threads, ...measured };
  if (peer) {
    const python = pythonPeer({ file, device, shape, iters, warmup, threads });
    row.python_jit_p50_us = python.jit?.p50_us;
    row.python_error = python.error;
  }
  if (peer && device === 'cpu') {
    const ort = [];
    for (let r = 0; r < repeats; r++) ort.push(onnxPeer({ file, shape, threads, iters, warmup }));
    row.onnx_p50_us = ort[0].error ? undefined : median(ort.map((o) => o.p50_us));
    row.onnx_error = ort[0].error;
    row.onnx_version = ort[0].version;
  }
  row.overhead_us = row.torchpool_p50_us - row.raw_p50_us;
  row.raw_over_torchpool = row.raw_p50_us / row.torchpool_p50_us;
  console.log(JSON.stringify(row));
  return row;
}

async function cpuSuite() {
  const rows = [];
  rows.push(await latencyCase({ name: 'tiny (Linear 16x16), batch 1', modelName: 'tiny', device: 'cpu', shape: [1, 16], threads: 1, iters: quick ? 500 : 3000, warmup: 200, peer: true }));
  rows.push(await latencyCase({ name: 'MLP 256-1024-1024-10, batch 64', modelName: 'mlp', device: 'cpu', shape: [64, 256], threads: cores, iters: quick ? 50 : 300, warmup: 20, peer: true }));
  rows.push(await latencyCase({ name: 'ResNet-18 64x64, batch 8', modelName: 'resnet18', device: 'cpu', shape: [8, 3, 64, 64], threads: cores, iters: quick ? 10 : 40, warmup: 3, peer: true }));
  // Event loop: how long the JS thread stalls while heavy forwards run.
  const pool = await InferencePool.create({ model: await model('resnet18'), devices: 'cpu', threadsPerEngine: Math.max(1, cores - 1) });
  const image = { data: new Float32Array(8 * 3 * 96 * 96).fill(0.5), shape: [8, 3, 96, 96] };
  await pool.infer(image);
  const gaps = [];
  for (let r = 0; r < repeats; r++) gaps.push(await worstIntervalGap(() => Promise.all(Array.from({ length: 6 }, () => pool.infer(image)))));
  const forwardMs = pool.stats().engines[0].busyMs / pool.stats().engines[0].requests;
  await pool.close();
  const ortStall = onnxPeer({ file: await model('resnet18'), shape: [8, 3, 96, 96], threads: Math.max(1, cores - 1), iters: 3, warmup: 1, stall: 6 });
  const eventLoop = { workload: 'ResNet-18 96x96 batch 8, 6 requests', worst_gap_ms: median(gaps), forward_ms: forwardMs,
    onnx_worst_gap_ms: ortStall.worst_gap_ms, onnx_error: ortStall.error };
  console.log(JSON.stringify(eventLoop));
  return { latency: rows, eventLoop, scheduler: await schedulerSuite() };
}

async function schedulerSuite() {
  return {
    overhead: await scheduler.overhead({ file: await model('tiny'), repeats, iters: quick ? 500 : 3000 }),
    batching: await scheduler.batching({ file: await model('mlp'), repeats, threads: 1, requests: quick ? 1000 : 4000 }),
    skewed: await scheduler.skewedJob({ file: await model('cost'), repeats, items: quick ? 40 : 80 }),
  };
}

const measured = suite === 'gpu' ? await gpuSuite({ device: gpus[0].id, model, quick, latencyCase }) : await cpuSuite();
const results = { suite, machine: machine(), ...measured };
const out = flag('out', path.join(root, 'bench', 'data', `${suite}.json`));
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
console.log(`wrote ${path.relative(root, out)}`);
