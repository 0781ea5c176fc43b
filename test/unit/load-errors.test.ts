// What a user reads when the native addon cannot be loaded: each case names the fix.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { explainLoadFailure } from '../../dist/binding.js';

function realLoadError(setup: (dir: string) => void): unknown {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-load-'));
  try {
    setup(dir);
    require('node-gyp-build')(dir);
  } catch (error) {
    return error;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  throw new Error('expected the load to fail');
}

describe('explainLoadFailure', () => {
  it('says that the install script did not run when there is no build at all, and how to approve it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-load-'));
    const message = explainLoadFailure(realLoadError(() => {}), dir);
    expect(message).toMatch(/never built, because its install script did not run/);
    expect(message).toContain('allowScripts');
    expect(message).toContain('npm install-scripts approve torchpool && npm rebuild torchpool');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('says that the build failed when it started but left no addon', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-load-'));
    fs.mkdirSync(path.join(dir, 'build'));
    const message = explainLoadFailure(realLoadError(() => {}), dir);
    expect(message).toMatch(/no prebuild for linux-x64.*no finished local build/);
    expect(message).toContain('npm rebuild torchpool');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['a binary for another platform (not ELF)', Buffer.concat([Buffer.from('MZ'), Buffer.alloc(4096)])],
    ['a damaged binary (truncated)', Buffer.from('MZ')],
  ])('explains %s from a real dlopen failure', (_name, contents) => {
    const error = realLoadError((dir) => {
      fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'build', 'Release', 'torchpool.node'), contents);
    });
    const message = explainLoadFailure(error);
    expect(message).toMatch(/another platform or architecture, or damaged/);
    expect(message).toContain('--build-from-source');
  });

  it('explains a missing libtorch library and how to install or point at one', () => {
    const message = explainLoadFailure(new Error(
      '/app/node_modules/torchpool/build/Release/torchpool.node: libtorch_cpu.so: cannot open shared object file: No such file or directory'));
    expect(message).toContain('libtorch_cpu.so was not found at run time');
    expect(message).toContain('apt-get install libtorch-dev libopenblas0-openmp');
    expect(message).toContain('TORCHPOOL_TORCH_DIR');
  });

  it('explains a libtorch ABI mismatch (undefined symbol)', () => {
    const message = explainLoadFailure(new Error(
      'torchpool.node: undefined symbol: _ZN5torch3jit4loadERSt13basic_istreamIcSt11char_traitsIcEESt8optionalIN3c106DeviceEEb'));
    expect(message).toMatch(/built against a different libtorch/);
    expect(message).toContain('npm rebuild torchpool');
  });
});
