/**
 * Loads the native addon (prebuild or local build, via node-gyp-build) and types its surface.
 * A failed load becomes a TorchpoolError that says what is missing and how to fix it.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCodes, TorchpoolError } from './errors.js';
import type { EngineUnhealthyEvent } from './events.js';
import type { LoadPlan } from './options.js';
import type { CudaEngineStats, LatencyStats, ThreadStats } from './stats.js';

/** Facts about the libtorch the addon was built against. */
export interface BuildInfo {
  torchVersion: string;
  torchOrigin: string;
  cuda: boolean;
  napiVersion: number;
  parallelInfo: string;
  /** Whether this build runs AOTInductor packages (.pt2): libtorch 2.6 or later. */
  aoti: boolean;
  /** Extension libraries loaded in this process so far. */
  extensions: string[];
}

export interface NativeCudaDevice {
  index: number;
  name: string;
  totalMemory: number;
  freeMemory: number;
  computeCapability: string;
  multiprocessors: number;
}

export interface NativeCudaQuery {
  devices: NativeCudaDevice[];
  note: string;
  runtimeVersion: number;
  driverVersion: number;
}

export interface NativeEngineStats {
  index: number;
  device: string;
  instance: number;
  threads: number;
  healthy: boolean;
  requests: number;
  batches: number;
  failures: number;
  retried: number;
  stolen: number;
  heldBatches: number;
  busyMs: number;
  inFlight: number;
  queueDepth: number;
  latency: LatencyStats;
  cuda?: CudaEngineStats;
}

/**
 * Process-wide libtorch switches as torchpool set them: the first pool that names one applies
 * it; null when no pool has.
 */
export interface ProcessSettings {
  cudnnBenchmark: boolean | null;
  allowTF32: boolean | null;
}

export interface NativePoolStats {
  engines: NativeEngineStats[];
  threads: ThreadStats[];
  uptimeMs: number;
  /** Whether the engines were closed (by the owner, or because its thread exited). */
  closed: boolean;
  processSettings: ProcessSettings;
  queueDepth: number;
  inFlight: number;
  completed: number;
  failed: number;
  batchingEnabled: boolean;
  batchingDisabledReason: string;
  latency: LatencyStats;
}

export interface NativeSignature {
  inputs: { name: string; type: string; optional: boolean }[];
  output: string;
  format: 'torchscript' | 'aoti';
  metadata: Record<string, string>;
}

export interface NativeLoadOptions extends LoadPlan {
  model: string | Buffer;
}

/** `(name, details)`: engine health changes, reported on the JS thread. */
export type NativeEventHandler = (name: 'engineUnhealthy', details: EngineUnhealthyEvent) => void;

export interface NativePool {
  /** Resolves with warnings about process-wide settings this pool asked for but could not change. */
  load(options: NativeLoadOptions): Promise<{ warnings: string[]; format: 'torchscript' | 'aoti' }>;
  /** Connects to the engines behind a share() token; throws CLOSED when they are gone. */
  attach(token: number): void;
  /** The token of this pool's engines in this process. */
  share(): number;
  /** Throws synchronously for bad input, QUEUE_FULL and NO_DEVICE; nothing is queued then. */
  infer(
    args: readonly unknown[],
    kwargs: object | null,
    id: number,
    priority: number,
    timeoutMs: number,
    batchable: boolean,
  ): Promise<unknown>;
  /** Settles the requests engines have finished (called from the scheduleDrain callback). */
  drain(): void;
  /** Settles a still-queued request with ABORTED or TIMEOUT; false if it already started. */
  cancel(id: number, code: 'ABORTED' | 'TIMEOUT'): boolean;
  /** The first call returns the promise of the shutdown; a later close(false) rejects what is still queued. */
  close(drain: boolean): Promise<void> | undefined;
  stats(): NativePoolStats;
  /** Whether the engines were closed (by the owner, or because its thread exited). */
  closed(): boolean;
  signature(): NativeSignature;
}

export interface NativeBinding {
  NativePool: new (onEvent: NativeEventHandler, scheduleDrain: () => void, threadId: number) => NativePool;
  setErrorFactory(factory: (code: string, message: string) => Error): void;
  buildInfo(): BuildInfo;
  listCudaDevices(): NativeCudaQuery;
  builtinModelNames(): string[];
  writeBuiltinModel(name: string, file: string, seed: number): Promise<void>;
  /** A close-on-exec duplicate of a file descriptor (serve --threads shares one listening socket). */
  dupFd(fd: number): number;
  /** Page-locked host memory made on a CUDA device, owned by the returned buffer (pool.allocInput). */
  allocPinned(bytes: number, device: number): { buffer?: ArrayBuffer; reason?: string };
}

/** The package root, where build/ and prebuilds/ live (this file is in dist/). */
export const packageRoot = path.resolve(__dirname, '..');

let loaded: NativeBinding | undefined;

/** The native addon, loaded on first use. */
export function nativeBinding(): NativeBinding {
  if (loaded) return loaded;
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
