/**
 * Built-in TorchScript models for demos, tests and benchmarks. They are generated in C++ from
 * TorchScript source with seeded weights (no Python, no downloads) into a cache directory.
 * @module
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nativeBinding } from './binding.js';
import { ErrorCodes, invalidArg, TorchpoolError } from './errors.js';

/** Bumped whenever native/models/ changes what a model computes, so caches regenerate. */
const ZOO_VERSION = 1;

/**
 * The built-in models: `identity`, `tiny` (Linear 16->16), `mlp` (256-1024-1024-10),
 * `resnet18`, `resnet50` (torchvision architectures, 1000 classes, any input >= 32x32),
 * `two_input` (forward(x, y)), `tuple_out`, `dict_out`, `embedding` (int64 ids),
 * `raises` (raises on negative input), `faulty` (raises on negative input, runs out of memory
 * on NaN input), `batch_sum` (sums over dim 0: not batchable) and `cost` (forward(x, iters): work set per call).
 */
export function builtinModelNames(): string[] {
  return nativeBinding().builtinModelNames();
}

/** Options of {@link builtinModelPath}. */
export interface BuiltinModelOptions {
  /** Seed of the random weights (models with formula weights ignore it). Default 0. */
  seed?: number;
  /** Where to keep generated files; default $TORCHPOOL_CACHE_DIR, else ~/.cache/torchpool. */
  cacheDir?: string;
}

/** The directory generated models are cached in. */
export function defaultCacheDir(): string {
  if (process.env.TORCHPOOL_CACHE_DIR) return process.env.TORCHPOOL_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'torchpool');
}

/**
 * Generates the named built-in model on first use and returns the path of its `.pt` file.
 * Safe to call from several processes at once (files appear atomically).
 */
export async function builtinModelPath(name: string, options: BuiltinModelOptions = {}): Promise<string> {
  const names = builtinModelNames();
  if (typeof name !== 'string' || !names.includes(name)) throw invalidArg('name', `one of ${names.join(', ')}`, name);
  if (typeof options !== 'object' || options === null) throw invalidArg('options', 'an object', options);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw invalidArg('options.seed', 'a non-negative integer', seed);
  const dir = options.cacheDir ?? defaultCacheDir();
  if (typeof dir !== 'string' || dir.length === 0 || dir.includes('\0')) throw invalidArg('options.cacheDir', 'a directory path', dir);
  const file = path.join(dir, `${name}-seed${seed}-v${ZOO_VERSION}.pt`);
  if (fs.existsSync(file)) return file;
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.promises.mkdir(dir, { recursive: true });
    await nativeBinding().writeBuiltinModel(name, temp, seed);
    await fs.promises.rename(temp, file);
  } catch (error) {
    if (error instanceof TorchpoolError) throw error;
    throw new TorchpoolError(ErrorCodes.MODEL_LOAD, `cannot write the built-in model ${name} to ${dir}: ${(error as Error).message}`, { cause: error });
  } finally {
    await fs.promises.rm(temp, { force: true }).catch(() => undefined);
  }
  return file;
}
