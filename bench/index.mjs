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
run(process.execPath, [path.join(root, 'bench', 'run.mjs'), ...process.argv.slice(2)], env);
run(process.execPath, [path.join(root, 'bench', 'report.mjs')]);
