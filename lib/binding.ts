/**
 * Loads the native addon (prebuild or local build, via node-gyp-build) and types its surface.
 * A failed load becomes a TorchpoolError that says what is missing and how to fix it.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCodes, TorchpoolError } from './errors.js';
import type { NativeBinding } from './native-types.js';
import type { OpenMpSettings } from './stats.js';

export type { BuildInfo, NativeBinding, NativePool, NativePoolStats, NativeSignature } from './native-types.js';

/** The package root, where build/ and prebuilds/ live (this file is in dist/). */
export const packageRoot = path.resolve(__dirname, '..');

let loaded: NativeBinding | undefined;

/**
 * How OpenMP threads wait once a forward is done, unless the environment already says. A team
 * that spins long after every forward (libgomp's default is about 300,000 iterations; Intel
 * OpenMP's KMP_BLOCKTIME is 200 ms) keeps the cores busy exactly when the JS thread needs one to
 * settle the results and submit the next requests; a team that sleeps at once (passive) pays a
 * wake-up at every parallel region of the next forward. A short spin measured best on the 2-core
 * VM (bench/openmp-wait.mjs, MLP, 64 callers): about the throughput of passive waiting under load
 * (0.59-0.61 of the raw C++ loop against 0.60-0.63 passive and 0.54-0.57 with libgomp's default
 * spin), and the best latency for a lone request at batch 64 (800-830 us, against 1,060-1,250
 * passive and 880-890 default). Intel OpenMP's shortest spin is 1 ms, so there it is 0 (passive).
 *
 * OMP_WAIT_POLICY=active goes with it for libgomp's sake: once the process has more OpenMP threads
 * than cores (a second pool, a model reloaded, a thread that ran a parallel region at load) libgomp
 * "throttles" every spin to 100 iterations unless the policy is active, and then waits as if
 * passive: an INT8 MLP at batch 64 ran 920 us instead of 310 in every pool after the first.
 * Active only lifts that throttle to the same 1000 (GOMP_SPINCOUNT still bounds the spin, and idle
 * threads sleep); Intel OpenMP keeps the explicit KMP_BLOCKTIME=0.
 *
 * The runtimes read these variables when they start, so they are set before libtorch loads, for
 * the whole process (child processes inherit them). A user's own OMP_WAIT_POLICY /
 * GOMP_SPINCOUNT / KMP_BLOCKTIME are kept.
 */
const OPENMP_DEFAULTS: readonly { name: string; value: string; unlessSet: readonly string[] }[] = [
  { name: 'OMP_WAIT_POLICY', value: 'active', unlessSet: ['OMP_WAIT_POLICY', 'GOMP_SPINCOUNT'] },
  { name: 'GOMP_SPINCOUNT', value: '1000', unlessSet: ['OMP_WAIT_POLICY', 'GOMP_SPINCOUNT'] },
  { name: 'KMP_BLOCKTIME', value: '0', unlessSet: ['KMP_BLOCKTIME', 'OMP_WAIT_POLICY'] },
];

let openmp: OpenMpSettings | undefined;

function applyOpenMpDefaults(): void {
  const isSet = (name: string) => process.env[name] !== undefined && process.env[name] !== '';
  const wanted = OPENMP_DEFAULTS.filter(({ unlessSet }) => !unlessSet.some(isSet));
  for (const { name, value } of wanted) process.env[name] = value;
  const setByTorchpool = wanted.map(({ name }) => name);
  openmp = { setByTorchpool };
  for (const name of ['OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'KMP_BLOCKTIME'] as const) {
    const value = process.env[name];
    if (value !== undefined && value !== '') openmp[name] = value;
  }
}

/** The OpenMP wait settings the process loaded the addon with (stats().processSettings.openmp). */
export function openMpSettings(): OpenMpSettings {
  nativeBinding();
  return { ...(openmp as OpenMpSettings), setByTorchpool: [...(openmp as OpenMpSettings).setByTorchpool] };
}

/** The native addon, loaded on first use. */
export function nativeBinding(): NativeBinding {
  if (loaded) return loaded;
  // Before libtorch (and its OpenMP runtime) loads; once per process (a worker thread shares it).
  if (!openmp) applyOpenMpDefaults();
  let addon: NativeBinding;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => NativeBinding;
    addon = load(packageRoot);
  } catch (error) {
    throw new TorchpoolError(ErrorCodes.NATIVE_LOAD, explainLoadFailure(error), { cause: error });
  }
  addon.setErrorFactory((code, message) => new TorchpoolError(code as TorchpoolError['code'], message));
  loaded = addon;
  return addon;
}

/** Turns a dlopen / node-gyp-build failure into an explanation with a fix. */
export function explainLoadFailure(error: unknown, root = packageRoot): string {
  const message = error instanceof Error ? error.message : String(error);
  const where = `${process.platform}-${process.arch}, Node ${process.versions.node}, N-API ${process.versions.napi}`;
  const head = 'torchpool: the native addon could not be loaded';
  const missingLib = /(lib[\w.+-]*\.so[\w.]*): cannot open shared object file/.exec(message);
  if (missingLib) {
    const lib = missingLib[1] ?? 'a library';
    const isTorch = /torch|c10|caffe2|gomp|openblas/.test(lib);
    return (
      `${head}: ${lib} was not found at run time.\n` +
      (isTorch
        ? 'libtorch is missing or has moved since torchpool was built. Install it (Debian/Ubuntu: ' +
          'apt-get install libtorch-dev libopenblas0-openmp), or point TORCHPOOL_TORCH_DIR at your ' +
          'libtorch and rebuild with `npm rebuild torchpool`.'
        : 'Install the library that provides it, or rebuild torchpool against the libtorch you have ' +
          '(`npm rebuild torchpool`).') +
      `\n(${where}; original error: ${message})`
    );
  }
  if (/undefined symbol/.test(message)) {
    return (
      `${head}: it was built against a different libtorch than the one found now (undefined symbol). ` +
      'Rebuild it against the libtorch you have: `npm rebuild torchpool` (TORCHPOOL_TORCH_DIR selects ' +
      `which one).\n(${where}; original error: ${message})`
    );
  }
  if (/invalid ELF header|wrong ELF class|ELFCLASS|not a dynamic executable|Exec format error|file too short/.test(message)) {
    return (
      `${head}: the binary is not a library for ${where}: built for another platform or architecture, or damaged. ` +
      `Build it here: \`npm rebuild torchpool --build-from-source\` (needs cmake, a C++17 compiler and libtorch).\n(original error: ${message})`
    );
  }
  if (/No native build was found/.test(message)) {
    // The install script makes build/ as soon as it starts building: without it, it never ran.
    if (!fs.existsSync(path.join(root, 'build'))) {
      return (
        `${head}: it was never built, because its install script did not run (npm skips the install scripts of ` +
        'dependencies that package.json\'s "allowScripts" does not approve, and --ignore-scripts skips them all). ' +
        'Approve and build it: `npm install-scripts approve torchpool && npm rebuild torchpool` (or just ' +
        '`npm rebuild torchpool`, which builds it once; needs cmake, a C++17 compiler and libtorch; see the README, ' +
        `"Installing in your project").\n(${where}; original error: ${message})`
      );
    }
    return (
      `${head}: there is no prebuild for ${where} and no finished local build (the build in ${path.join(root, 'build')} ` +
      'failed or was interrupted: its output is in the install log). Fix what it reported and build it again with ' +
      '`npm rebuild torchpool` (needs cmake, a C++17 compiler and libtorch; see the README, "Building from source").' +
      `\n(original error: ${message})`
    );
  }
  return `${head} (${where}): ${message}`;
}
