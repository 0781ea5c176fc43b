// Generates the built-in models once, before the test files run in parallel.
import { builtinModelPath } from '../../dist/index.js';
import * as path from 'node:path';

export default async function setup(): Promise<void> {
  const cacheDir = path.resolve(__dirname, '../../.cache/models');
  for (const name of ['identity', 'tiny', 'mlp', 'two_input', 'tuple_out', 'dict_out', 'embedding', 'raises', 'cost', 'faulty', 'batch_sum', 'resnet18']) {
    await builtinModelPath(name, { cacheDir });
  }
}
