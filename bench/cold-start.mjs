#!/usr/bin/env node
// Cold start under load (issue 20): each variant is `torchpool bench --cold-start` in a process
// of its own (a real cold start, and process-wide TorchScript settings stay its own). The pool is
// created and, the moment create() resolves, 16 and then 64 callers start; requests/s and the
// worst latency per 500 ms window. GPU: ResNet-50 fp16 channels-last, maxBatchSize 32, warmup
// [1, 3, 224, 224] as the README shows; CPU: ResNet-18 on 64x64 images.
// Writes bench/data/cold-start-<cpu|gpu>.json.   node bench/cold-start.mjs [--suite cpu|gpu] [--quick]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import torchpool from '../dist/index.js';
import { gpuMachine, root } from './measure.mjs';

const { buildInfo, listDevices } = torchpool;
const argv = process.argv.slice(2);
const flag = (name, fallback) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : fallback; };
const quick = argv.includes('--quick');
const gpu = listDevices().find((d) => d.type === 'cuda');
const suite = flag('suite', gpu ? 'gpu' : 'cpu');
const duration = quick ? '4s' : '6s';

const both = ['-c', '16,64'];
const variants = suite === 'gpu'
  ? [
    { name: 'default: buckets warmed on the engine thread (eager)', args: [...both] },
    { name: 'cudaGraphs (a graph per bucket, captured at load)', args: [...both, '--cuda-graphs'] },
    { name: 'no buckets: only batch 1 warmed (what 0.1.0 did)', args: [...both, '--batch-buckets', 'none'] },
    { name: 'no buckets, torchscript.optimizedExecution off', args: ['-c', '16', '--batch-buckets', 'none', '--no-optimized-execution'] },
    { name: 'no buckets, torchscript.profilingExecutor off', args: ['-c', '16', '--batch-buckets', 'none', '--profiling-executor', 'off'] },
    { name: 'no buckets, torchscript.tensorExprFuser off', args: ['-c', '16', '--batch-buckets', 'none', '--tensor-expr-fuser', 'off'] },
    { name: 'eager, fillWhileBusy on', args: ['-c', '64', '--fill-while-busy'] },
    { name: 'cudaGraphs, fillWhileBusy off', args: ['-c', '64', '--cuda-graphs', '--no-fill-while-busy'] },
  ]
  : [
    { name: 'default (CPU engines pad nothing)', args: [...both] },
    { name: 'batchBuckets 1,2,4,...,32 (warmed)', args: [...both, '--batch-buckets', '1,2,4,8,16,32'] },
    { name: 'only batch 1 warmed, torchscript.optimizedExecution off', args: [...both, '--no-optimized-execution'] },
  ];
const model = suite === 'gpu'
  ? ['--model', 'resnet50', '--precision', 'fp16', '--channels-last', '--devices', gpu?.id ?? 'cuda:0']
  : ['--model', 'resnet18', '--devices', 'cpu'];

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-cold-start-'));
const rows = [];
for (const variant of variants) {
  const args = [path.join(root, 'dist', 'cli.js'), 'bench', '--cold-start', ...model, '--max-batch-size', '32', '--duration', duration, '--json', '-q', '-o', scratch, ...variant.args];
  const started = performance.now();
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, TORCHPOOL_CACHE_DIR: path.join(root, '.cache', 'models') }, maxBuffer: 64 << 20 });
  if (child.status !== 0) {
    console.error(`${variant.name}: failed\n${child.stderr}`);
    rows.push({ variant: variant.name, error: (child.stderr || String(child.error)).trim().split('\n').pop() });
    continue;
  }
  const report = JSON.parse(child.stdout);
  for (const run of report.coldStart) {
    const row = { variant: variant.name, command: `torchpool bench --cold-start ${[...model, '--max-batch-size', '32', '--duration', duration, ...variant.args].join(' ')}`, ...run };
    rows.push(row);
    console.log(JSON.stringify({ variant: row.variant, callers: row.callers, loadMs: Math.round(row.loadMs), firstSecond: row.firstSecondFraction.toFixed(2), worstOverP99: row.worstOverSteadyP99.toFixed(1), steady: Math.round(row.steady.requestsPerSecond), p99: row.steady.p99Ms.toFixed(1), firstShapes: row.firstShapeForwards }));
  }
  console.error(`${variant.name}: ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
fs.rmSync(scratch, { recursive: true, force: true });

const cpu = listDevices()[0];
const data = {
  machine: gpu ? gpuMachine(gpu, buildInfo().torchVersion) : { date: new Date().toISOString().slice(0, 10), cpu: `${cpu.name} (${os.availableParallelism()} cores)`, node: process.version, libtorch: buildInfo().torchVersion },
  command: `node bench/cold-start.mjs --suite ${suite}${quick ? ' --quick' : ''}`,
  setup: suite === 'gpu'
    ? 'ResNet-50 fp16 channels-last on one GPU, maxBatchSize 32, warmup [1, 3, 224, 224]; batch-1 requests; each caller keeps one in flight'
    : 'ResNet-18 on 64x64 images on the CPU (default threads), maxBatchSize 32, warmup [1, 3, 64, 64]; batch-1 requests; each caller keeps one in flight',
  rows,
};
const out = path.join(root, 'bench', 'data', `cold-start-${suite}.json`);
fs.writeFileSync(out, JSON.stringify(data, null, 2) + '\n');
console.log(`wrote ${path.relative(root, out)}`);
