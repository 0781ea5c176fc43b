// INT8: a model quantized by PyTorch (dynamic quantization of its Linear layers), served by
// torchpool on CPU engines with the quantized engine it was made for, next to its float original.
// Needs a Python with torch (Debian: apt-get install python3-torch); says so and stops otherwise.
// Run: node examples/int8.mjs
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InferencePool, buildInfo } from 'torchpool';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-int8-'));
const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
if (!python) {
  console.log('This example needs a Python with torch to quantize a model (apt-get install python3-torch).');
  process.exit(0);
}
const made = spawnSync(python, ['-c', `
import sys, torch, torch.nn as nn
torch.backends.quantized.engine = 'onednn'
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)).eval()
torch.jit.script(model).save(sys.argv[1] + '/fp32.pt')
int8 = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
torch.jit.script(int8).save(sys.argv[1] + '/int8.pt')
`, dir], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(made.stderr);

console.log('quantized engines here:', buildInfo().quantizedEngines.join(', '));
// The engine the model was quantized for (process-wide: the first pool that names it sets it).
const int8 = await InferencePool.create({ model: path.join(dir, 'int8.pt'), devices: 'cpu', quantizedEngine: 'onednn' });
const fp32 = await InferencePool.create({ model: path.join(dir, 'fp32.pt'), devices: 'cpu' });
console.log('int8 model quantized:', int8.signature.quantized, '| fp32:', fp32.signature.quantized);

const x = { data: new Float32Array(64 * 256).map((_, i) => Math.sin(i)), shape: [64, 256] };
const time = async (pool) => {
  for (let i = 0; i < 5; i++) await pool.infer(x);
  const start = performance.now();
  for (let i = 0; i < 20; i++) await pool.infer(x);
  return (performance.now() - start) / 20;
};
const [a, b] = [await int8.infer(x), await fp32.infer(x)];
let worst = 0;
for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]));
console.log(`batch 64: int8 ${(await time(int8)).toFixed(2)} ms, fp32 ${(await time(fp32)).toFixed(2)} ms; largest difference ${worst.toExponential(2)}`);
await Promise.all([int8.close(), fp32.close()]);
fs.rmSync(dir, { recursive: true, force: true });
