// Builds test/fixtures/custom-op (a custom-operator library and the models that use it) with
// CMake against the same libtorch as the addon, once per source change (cached in .cache/).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');
const fixture = path.join(root, 'test', 'fixtures', 'custom-op');

export interface CustomOp {
  /** The extension library: registers torchpool_test::scale_add(x, k) = x * k + 1. */
  library: string;
  /** forward(x) = torchpool_test::scale_add(x, 2.0): loads only with the library. */
  scaleAddModel: string;
  /** forward(x) = 3x, raising for more than one row. */
  oneRowModel: string;
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8', cwd: fixture });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
}

export function buildCustomOp(): CustomOp {
  const hash = createHash('sha256');
  for (const file of fs.readdirSync(fixture).sort()) hash.update(file).update(fs.readFileSync(path.join(fixture, file)));
  hash.update(process.env.TORCHPOOL_TORCH_DIR ?? '');
  const dir = path.join(root, '.cache', 'custom-op', hash.digest('hex').slice(0, 16));
  const out: CustomOp = {
    library: path.join(dir, 'build', 'libtorchpool_test_ops.so'),
    scaleAddModel: path.join(dir, 'scale_add.pt'),
    oneRowModel: path.join(dir, 'one_row.pt'),
  };
  if (Object.values(out).every((f) => fs.existsSync(f))) return out;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  run('cmake', ['-S', fixture, '-B', path.join(dir, 'build'), '-DCMAKE_BUILD_TYPE=Release']);
  run('cmake', ['--build', path.join(dir, 'build'), '--parallel', '2']);
  run(path.join(dir, 'build', 'write_models'), [dir]);
  return out;
}
