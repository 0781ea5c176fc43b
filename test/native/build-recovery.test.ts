// scripts/build-native.js (what `npm ci`, `npm run build` and the install hook run) recovers
// from a failed configure and reconfigures when TORCHPOOL_TORCH_DIR points elsewhere. It builds
// into a scratch directory (TORCHPOOL_BUILD_DIR) and only the one-file benchmark target, so the
// real configure and build steps run without recompiling the addon.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const script = path.resolve(__dirname, '../../scripts/build-native.js');
const buildDir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-build-'));
// Debian's libtorch-dev keeps its CMake config here: a second way to name the same libtorch.
const debianTorch = '/usr/lib/x86_64-linux-gnu/cmake';

function build(args: string[], env: Record<string, string | undefined> = {}) {
  const merged: NodeJS.ProcessEnv = { ...process.env, TORCHPOOL_BUILD_DIR: buildDir, TORCHPOOL_TORCH_DIR: '', ...env };
  const run = spawnSync(process.execPath, [script, ...args], { env: merged, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

afterAll(() => fs.rmSync(buildDir, { recursive: true, force: true }));

describe('the native build', () => {
  it('recovers from a failed configure and reconfigures when TORCHPOOL_TORCH_DIR changes', { timeout: 240_000 }, () => {
    const failed = build(['--configure-only'], { TORCHPOOL_TORCH_DIR: path.join(buildDir, 'no-libtorch-here') });
    expect(failed.status).not.toBe(0);
    expect(failed.output).toMatch(/holds no libtorch CMake config/);
    // What used to break the next run: a CMake cache without build files.
    expect(fs.existsSync(path.join(buildDir, 'CMakeCache.txt'))).toBe(true);
    expect(fs.existsSync(path.join(buildDir, 'build.ninja')) || fs.existsSync(path.join(buildDir, 'Makefile'))).toBe(false);

    const recovered = build(['--target', 'torchpool-raw-forward']);
    expect(recovered.output).toMatch(/configuring from scratch: the last configure did not finish/);
    expect(recovered.status).toBe(0);
    expect(fs.existsSync(path.join(buildDir, 'bench', 'torchpool-raw-forward'))).toBe(true);
    expect(recovered.output).not.toMatch(/loading 'build.ninja'/);

    const again = build(['--configure-only']);
    expect(again.status).toBe(0);
    expect(again.output).not.toMatch(/configuring from scratch/);

    if (fs.existsSync(path.join(debianTorch, 'Torch', 'TorchConfig.cmake'))) {
      const moved = build(['--configure-only'], { TORCHPOOL_TORCH_DIR: debianTorch });
      expect(moved.status).toBe(0);
      expect(moved.output).toMatch(/TORCHPOOL_TORCH_DIR changed/);
      expect(moved.output).toMatch(/libtorch [\d.]+ from TORCHPOOL_TORCH_DIR/);
    }
  });
});
