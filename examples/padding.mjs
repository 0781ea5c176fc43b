// Text models: requests of different lengths batched together. A small transformer encoder,
// scripted by PyTorch, takes tokens [B, T, 32] and a key-padding mask [B, T] (true at padding);
// torchpool pads the requests of a batch to the longest (or a length bucket) and cuts each
// output back to the request's own length.
// Needs a Python with torch (Debian: apt-get install python3-torch); says so and stops otherwise.
// Run: node examples/padding.mjs
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InferencePool } from 'torchpool';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-padding-'));
const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
if (!python) {
  console.log('This example needs a Python with torch to script an encoder (apt-get install python3-torch).');
  process.exit(0);
}
// torch.jit.script reads the class's source, so the script is a file, not python -c.
const script = path.join(dir, 'make_encoder.py');
fs.writeFileSync(script, `
import sys, torch, torch.nn as nn
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    def forward(self, x: torch.Tensor, mask: torch.Tensor):
        tokens = self.encoder(x, src_key_padding_mask=mask)   # the mask makes padding harmless
        keep = (~mask).unsqueeze(-1).float()
        return tokens, (tokens * keep).sum(1) / keep.sum(1)
torch.jit.script(Encoder().eval()).save(sys.argv[1] + '/encoder.pt')
`);
const made = spawnSync(python, [script, dir], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(made.stderr);

const pool = await InferencePool.create({
  model: path.join(dir, 'encoder.pt'), devices: 'cpu', maxBatchSize: 16,
  // The axis that may differ per request, per input of forward; the mask pads with true.
  padding: { x: { axis: 1 }, mask: { axis: 1, value: 1 } },
  paddingBuckets: [16, 32, 64, 128],
  // Warm every batch bucket at every length bucket before create() resolves (by input name).
  warmup: [{ inputs: { x: { shape: [1, 16, 32] }, mask: { shape: [1, 16], dtype: 'bool' } } }],
});
const request = (length) => ({
  x: { data: Float32Array.from({ length: length * 32 }, () => Math.random() - 0.5), shape: [1, length, 32] },
  mask: { data: new Uint8Array(length), shape: [1, length], dtype: 'bool' }, // false: a real token
});

// 24 concurrent requests of lengths 5..120: they merge into a few padded forwards.
const lengths = Array.from({ length: 24 }, (_, i) => 5 + ((i * 47) % 116));
const results = await Promise.all(lengths.map((n) => pool.infer(request(n))));
for (const [i, [tokens, pooled]] of results.entries()) {
  if (tokens.shape[1] !== lengths[i] || pooled.shape[1] !== 32) throw new Error(`unexpected shapes ${tokens.shape} ${pooled.shape}`);
}
const stats = pool.stats();
const { fraction } = stats.engines[0].lengthPadding;
console.log(`${lengths.length} requests of lengths ${Math.min(...lengths)}..${Math.max(...lengths)} in ${stats.batches} forwards;`,
  `each tokens output at its own length; ${(100 * fraction).toFixed(0)}% of the positions run were padding`);
await pool.close();
fs.rmSync(dir, { recursive: true, force: true });
