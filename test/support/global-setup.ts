// Generates the built-in models once, before the test files run in parallel; afterwards, checks
// that the run wrote nothing into the tree (tests write only under os.tmpdir() or ignored
// folders: a model once landed in fp16/ at the repository root and was committed).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { builtinModelPath } from '../../dist/index.js';

const root = path.resolve(__dirname, '../..');

/** Untracked, not ignored files in the tree; undefined outside a git checkout. */
function strayFiles(): Set<string> | undefined {
  const git = spawnSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: root, encoding: 'utf8' });
  if (git.status !== 0) return undefined;
  return new Set(git.stdout.split('\n').filter((l) => l.startsWith('??')).map((l) => l.slice(3)));
}

export default async function setup(): Promise<() => void> {
  const before = strayFiles();
  const cacheDir = path.resolve(__dirname, '../../.cache/models');
  for (const name of ['identity', 'tiny', 'mlp', 'two_input', 'tuple_out', 'dict_out', 'embedding', 'raises', 'cost', 'faulty', 'batch_sum', 'resnet18']) {
    await builtinModelPath(name, { cacheDir });
  }
  return () => {
    const after = strayFiles();
    if (!before || !after) return;
    const added = [...after].filter((f) => !before.has(f));
    if (added.length > 0) {
      // vitest reports an error thrown here but keeps its exit code: set it, so CI fails.
      console.error(`\nFAIL: the tests wrote into the tree (write under os.tmpdir() or an ignored folder instead): ${added.join(', ')}\n`);
      process.exitCode = 1;
    }
  };
}
