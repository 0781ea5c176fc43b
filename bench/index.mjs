#!/usr/bin/env node
// npm run bench: builds the raw C++ baseline, runs the suite for this machine (GPU when one is
// present, else CPU) and regenerates BENCHMARKS.md from every bench/data/*.json.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { root } from './measure.mjs';

function run(command, args, env = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run('cmake', ['--build', 'build', '--target', 'torchpool-raw-forward']);
// The Python peer uses Debian's python3-torch when the python3 on PATH has no torch.
const env = {};
if (!process.env.TORCHPOOL_BENCH_PYTHON && fs.existsSync('/usr/bin/python3')) {
  const probe = spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' });
  if (probe.status !== 0) env.TORCHPOOL_BENCH_PYTHON = '/usr/bin/python3';
}
// Bench-only peer: onnxruntime-node in bench/.peers (its postinstall would fetch CUDA providers,
// which this needs not; ONNXRUNTIME_NODE_INSTALL=skip keeps the CPU provider only).
if (!fs.existsSync(path.join(root, 'bench', '.peers', 'node_modules', 'onnxruntime-node'))) {
  const installed = spawnSync('npm', ['install', '--prefix', path.join(root, 'bench', '.peers'), '--no-save', '--no-audit', '--no-fund', 'onnxruntime-node@1.30'],
    { stdio: 'inherit', cwd: root, env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  if (installed.status !== 0) console.warn('bench: onnxruntime-node could not be installed; its rows will say so');
}
run(process.execPath, [path.join(root, 'bench', 'run.mjs'), ...process.argv.slice(2)], env);
// What users run: `torchpool bench` on the MLP over two engines; its report and chart go into BENCHMARKS.md.
const quick = process.argv.includes('--quick');
const suite = process.argv.includes('--suite') ? process.argv[process.argv.indexOf('--suite') + 1] : undefined;
const gpu = suite === 'gpu' || (suite !== 'cpu' && spawnSync(process.execPath, ['-e', "process.exit(require('./dist/index.js').listDevices().some((d) => d.type === 'cuda') ? 0 : 1)"], { cwd: root }).status === 0);
run(process.execPath, [path.join(root, 'dist', 'cli.js'), 'bench', '--model', 'mlp', '--devices', gpu ? 'cuda' : 'cpu,cpu',
  '--batch', '1,8,32', '--concurrency', '1,16,64', '--duration', quick ? '1s' : '3s', '--warmup', '500ms',
  '--out', `bench/data/cli-${gpu ? 'gpu' : 'cpu'}`]);
// torchpool serve under load (autocannon on loopback), with and without dynamic batching, and
// over HTTP threads; then the JS cost of one request on one thread.
run(process.execPath, [path.join(root, 'bench', 'serve.mjs'), ...(quick ? ['--quick'] : [])]);
run(process.execPath, [path.join(root, 'bench', 'serve-profile.mjs'), '--label', 'after', ...(quick ? ['--quick'] : [])]);
// AOTInductor packages (GPU with libtorch 2.6+ only; says why it skips elsewhere).
run(process.execPath, [path.join(root, 'bench', 'aoti.mjs'), ...(quick ? ['--quick'] : [])]);
// Reloads under load, RSS over reloads, gRPC against HTTP.
run(process.execPath, [path.join(root, 'bench', 'serve-reload.mjs'), ...(quick ? ['--quick'] : [])]);
// One pool used from several JS threads (share / attach), without HTTP.
run(process.execPath, [path.join(root, 'bench', 'threads.mjs'), ...(quick ? ['--quick'] : [])]);
// Right by default (issue 20): cold start under load, and how OpenMP threads wait (CPU machines).
run(process.execPath, [path.join(root, 'bench', 'cold-start.mjs'), ...(quick ? ['--quick'] : [])]);
if (!gpu) run(process.execPath, [path.join(root, 'bench', 'openmp-wait.mjs'), ...(quick ? ['--quick'] : [])]);
// What one request costs the JS thread (64 callers, a model too small to matter and the MLP).
if (!gpu) run(process.execPath, [path.join(root, 'bench', 'js-turnaround.mjs'), ...(quick ? ['--quick'] : [])], env);
// INT8 against fp32, outputs into the caller's memory, requests of different lengths.
run(process.execPath, [path.join(root, 'bench', 'int8.mjs'), ...(quick ? ['--quick'] : [])]);
run(process.execPath, [path.join(root, 'bench', 'output-buffers.mjs'), ...(quick ? ['--quick'] : [])]);
run(process.execPath, [path.join(root, 'bench', 'padding.mjs'), ...(quick ? ['--quick'] : [])]);
run(process.execPath, [path.join(root, 'bench', 'report.mjs')]);
