#!/usr/bin/env node
// INT8 against fp32 on the CPU (issue 22): the MLP and the small conv net, each as PyTorch saved
// it in fp32 and quantized (test/fixtures/quantized/make_models.py: dynamic quantization of the
// MLP's Linear layers, static quantization of the conv net), one request at a time at batch 1 and
// batch 64, torchpool and the raw C++ loop alternating on the same file with the same quantized
// engine; plus each model's largest output error against its fp32 twin.
// Writes bench/data/int8-cpu.json.   node bench/int8.mjs [--quick]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import torchpool from '../dist/index.js';
import { oursVsRaw, root } from './measure.mjs';

const { InferencePool, buildInfo, listDevices } = torchpool;
const quick = process.argv.includes('--quick');
const repeats = quick ? 1 : 3;
const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
if (!python) {
  console.log('int8 bench: skipped (no Python with torch to make the quantized models)');
  process.exit(0);
}
const made = spawnSync(python, [path.join(root, 'test', 'fixtures', 'quantized', 'make_models.py'), path.join(root, '.cache', 'quantized')], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(made.stderr);
const dir = /^dir=(.+)$/m.exec(made.stdout)[1];
const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8'));
const qengine = expected.engine;
const threads = os.availableParallelism();

const rows = [];
for (const [model, item] of [['mlp', [256]], ['conv', [3, 32, 32]]]) {
  for (const batch of quick ? [64] : [1, 64]) {
    const shape = [batch, ...item];
    const row = { model, batch, threads, engine: qengine };
    for (const kind of ['fp32', 'int8']) {
      const file = path.join(dir, `${model}_${kind}.pt`);
      const pool = await InferencePool.create({ model: file, devices: 'cpu', quantizedEngine: qengine, threadsPerEngine: threads });
      const measured = await oursVsRaw(pool, { file, device: 'cpu', shape, threads, iters: quick ? 100 : 400, warmup: 30, repeats, qengine });
      await pool.close();
      row[`${kind}_torchpool_p50_us`] = measured.torchpool_p50_us;
      row[`${kind}_raw_p50_us`] = measured.raw_p50_us;
    }
    row.int8_speedup = row.fp32_torchpool_p50_us / row.int8_torchpool_p50_us;
    row.raw_int8_speedup = row.fp32_raw_p50_us / row.int8_raw_p50_us;
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  // Accuracy: int8 against its fp32 twin on PyTorch's own inputs, and against PyTorch's int8 output.
  const e32 = expected.models[`${model}_fp32.pt`];
  const e8 = expected.models[`${model}_int8.pt`];
  const pool = await InferencePool.create({ model: path.join(dir, `${model}_int8.pt`), devices: 'cpu', quantizedEngine: qengine });
  const out = await pool.infer({ data: Float32Array.from(e8.input), shape: e8.shape });
  await pool.close();
  let vsFloat = 0, vsPytorch = 0, scale = 0;
  for (let i = 0; i < e32.output.length; i++) {
    vsFloat = Math.max(vsFloat, Math.abs(out.data[i] - e32.output[i]));
    vsPytorch = Math.max(vsPytorch, Math.abs(out.data[i] - e8.output[i]));
    scale = Math.max(scale, Math.abs(e32.output[i]));
  }
  for (const row of rows.filter((r) => r.model === model)) Object.assign(row, { max_abs_error_vs_fp32: vsFloat, max_relative_error_vs_fp32: vsFloat / scale, max_abs_diff_vs_pytorch_int8: vsPytorch });
}

const cpu = listDevices()[0];
const out = path.join(root, 'bench', 'data', 'int8-cpu.json');
fs.writeFileSync(out, JSON.stringify({
  machine: { date: new Date().toISOString().slice(0, 10), cpu: `${cpu.name} (${os.availableParallelism()} cores)`, node: process.version, libtorch: buildInfo().torchVersion },
  command: `node bench/int8.mjs${quick ? ' --quick' : ''}`,
  setup: `one request at a time, ${threads} threads, median p50 of ${repeats} runs, torchpool and the raw C++ loop alternating, quantized engine ${qengine}; errors on the fixtures' own inputs (the fp32 twin's output as reference)`,
  rows,
}, null, 2) + '\n');
console.log(`wrote ${path.relative(root, out)}`);
