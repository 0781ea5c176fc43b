// Models made by PyTorch itself for the tests (Debian's python3-torch on the CPU machines, the
// machine's torch on a GPU one): quantized models with PyTorch's outputs, and a text encoder.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');

export interface QuantizedFixtures {
  dir: string;
  engine: string;
  models: Record<string, { input: number[]; shape: number[]; output: number[] }>;
}

/** A Python with torch: Debian's (/usr/bin/python3) first, the python3 on PATH otherwise. */
export function torchPython(): string | undefined {
  for (const python of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return python;
  }
  return undefined;
}

/** Makes the fixtures once (kept in .cache/quantized, per torch version) and reads them. */
export function quantizedFixtures(python: string): QuantizedFixtures {
  const made = spawnSync(python, [path.join(root, 'test', 'fixtures', 'quantized', 'make_models.py'), path.join(root, '.cache', 'quantized')], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`make_models.py failed: ${made.stderr}`);
  const dir = /^dir=(.+)$/m.exec(made.stdout)![1]!;
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Omit<QuantizedFixtures, 'dir'>;
  return { dir, ...expected };
}

/** The small transformer encoder with a key-padding mask (test/fixtures/text/make_encoder.py), made once. */
export function encoderModel(python: string): string {
  const made = spawnSync(python, [path.join(root, 'test', 'fixtures', 'text', 'make_encoder.py'), path.join(root, '.cache', 'text')], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`make_encoder.py failed: ${made.stderr}`);
  return path.join(/^dir=(.+)$/m.exec(made.stdout)![1]!, 'encoder.pt');
}
