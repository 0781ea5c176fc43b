#!/usr/bin/env node
// AOTInductor packages on the GPU: ResNet-50 at batch 1/8/32/128, fp32 and fp16, run by torchpool
// against the same package run from Python (torch._inductor.aoti_load_package, the baseline to
// match) and against torchpool's TorchScript figures (eager, and CUDA graphs) on the same module,
// so users see which format to pick. Needs CUDA, a libtorch that runs packages (2.6+) and a
// Python torch that makes them. Writes bench/data/aoti-gpu.json.   node bench/aoti.mjs [--quick]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import torchpool from '../dist/index.js';
import { gpuMachine, median, root, torchpoolLatency } from './measure.mjs';

const { InferencePool, buildInfo, listDevices } = torchpool;
const quick = process.argv.includes('--quick');
const gpu = listDevices().find((d) => d.type === 'cuda');
if (!gpu || !buildInfo().aoti) {
  console.log(`aoti bench: skipped (${!gpu ? 'no CUDA device' : `libtorch ${buildInfo().torchVersion} cannot run AOTInductor packages`})`);
  process.exit(0);
}
const python = process.env.TORCHPOOL_BENCH_PYTHON ?? 'python3';
// Made once per machine (per torch version and settings), like the GPU tests' packages.
const cacheBase = path.join(process.env.TORCHPOOL_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'torchpool'), 'aoti');
const made = spawnSync(python, [path.join(root, 'test', 'fixtures', 'aoti', 'make_packages.py'), cacheBase, 'resnet50'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
if (made.status !== 0) process.exit(made.status ?? 1);
const dir = /^dir=(.+)$/m.exec(made.stdout)[1];

// Written after every row, so that a run cut short still leaves what it measured.
const out = path.join(root, 'bench', 'data', 'aoti-gpu.json');
function save() {
  fs.writeFileSync(out, JSON.stringify({
    machine: gpuMachine(gpu, buildInfo().torchVersion),
    command: `node bench/aoti.mjs${quick ? ' --quick' : ''}`,
    setup: `ResNet-50 (224x224), one request at a time, host Float32Array in and out, median p50 of ${repeats} runs; fp16 packages cast inside (float32 in and out); TorchScript rows: torchpool on a trace of the same module (precision fp16 for the fp16 rows)`,
    rows,
  }, null, 2) + '\n');
}

const device = 'cuda:0';
const repeats = quick ? 1 : 3;
const rows = [];
for (const precision of ['fp32', 'fp16']) {
  const pkg = path.join(dir, `resnet50-${precision}.pt2`);
  // Exported with a dynamic batch from 1 (make_packages.py): every batch runs as it is.
  for (const batch of quick ? [1, 8, 32] : [1, 8, 32, 128]) {
    const shape = [batch, 3, 224, 224];
    const iters = batch >= 128 ? 30 : batch >= 32 ? 60 : 150;
    const measure = async (options) => {
      const pool = await InferencePool.create({ devices: [device], batching: false, warmup: [{ shape }], ...options });
      const runs = [];
      for (let r = 0; r < repeats; r++) runs.push((await torchpoolLatency(pool, { shape, iters, warmup: 10 })).p50_us);
      await pool.close();
      return median(runs);
    };
    const aoti = await measure({ model: pkg });
    const aotiGraphs = await measure({ model: pkg, cudaGraphs: true });
    const peerRuns = [];
    for (let r = 0; r < repeats; r++) {
      const peer = spawnSync(python, [path.join(root, 'bench', 'peers', 'aoti_python.py'), '--package', pkg, '--device', device, '--shape', shape.join(','), '--iters', String(iters)],
        { encoding: 'utf8', timeout: 120_000 });
      if (peer.status === 0) {
        peerRuns.push(JSON.parse(peer.stdout.trim().split('\n').at(-1)).p50_us);
      } else {
        // Say why, once per row: a baseline that silently goes missing cannot be told from a slow one.
        const why = peer.error ? peer.error.message : peer.signal ? `killed by ${peer.signal}` : `exit ${peer.status}`;
        console.error(`aoti bench: the Python baseline failed (${why}): ${(peer.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
        break;
      }
    }
    const python_aoti = peerRuns.length ? median(peerRuns) : null;
    const ts = path.join(dir, 'resnet50.ts');
    const precisionOption = precision === 'fp16' ? { precision: 'fp16' } : {};
    const eager = await measure({ model: ts, ...precisionOption });
    const graphs = await measure({ model: ts, ...precisionOption, cudaGraphs: true });
    const row = {
      precision, batch,
      torchpool_aoti_p50_us: aoti, torchpool_aoti_graphs_p50_us: aotiGraphs, python_aoti_p50_us: python_aoti,
      aoti_throughput_vs_python: python_aoti ? python_aoti / aoti : null,
      torchpool_torchscript_p50_us: eager, torchpool_torchscript_graphs_p50_us: graphs,
      images_per_s_aoti: (batch * 1e6) / aoti,
    };
    console.log(JSON.stringify(row));
    rows.push(row);
    save();
  }
}
save();
console.log(`wrote ${path.relative(root, out)}`);
