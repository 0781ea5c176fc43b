/**
 * Device discovery and the `devices` option: which engines a pool gets.
 * @module
 */
import * as os from 'node:os';
import { ErrorCodes, invalidArg, TorchpoolError } from './errors.js';
import { nativeBinding } from './binding.js';

/** A device torchpool can run engines on. */
export interface DeviceInfo {
  /** `'cpu'` or `'cuda:N'`: the string to pass in `devices`. */
  id: string;
  type: 'cpu' | 'cuda';
  /** 0 for the CPU; the CUDA ordinal otherwise. */
  index: number;
  name: string;
  /** Bytes of memory (host RAM for the CPU). */
  totalMemory: number;
  /** Bytes free when listed. */
  freeMemory: number;
  /** `'9.0'` for an H100; null for the CPU. */
  computeCapability: string | null;
  /** Logical cores for the CPU, streaming multiprocessors for a GPU. */
  cores: number;
}

/**
 * Which devices a pool runs on: `'all'` (every CUDA device, or the CPU when there is none),
 * `'cpu'`, `'cuda'` (every CUDA device), or a list such as `['cuda:0', 'cuda:1']`. A list may
 * name `'cpu'` more than once to get several CPU engines.
 */
export type DeviceSelection = 'all' | 'cpu' | 'cuda' | readonly string[];

function cpuInfo(): DeviceInfo {
  const cpus = os.cpus();
  return {
    id: 'cpu',
    type: 'cpu',
    index: 0,
    name: cpus[0]?.model.trim() || 'CPU',
    totalMemory: os.totalmem(),
    freeMemory: os.freemem(),
    computeCapability: null,
    cores: os.availableParallelism(),
  };
}

/**
 * Lists the CPU and every CUDA device this build of torchpool can use. On a machine without a
 * GPU or driver, or with a CPU-only libtorch, that is just the CPU; it never throws for that.
 */
export function listDevices(): DeviceInfo[] {
  const devices = [cpuInfo()];
  for (const d of nativeBinding().listCudaDevices().devices) {
    devices.push({
      id: `cuda:${d.index}`,
      type: 'cuda',
      index: d.index,
      name: d.name,
      totalMemory: d.totalMemory,
      freeMemory: d.freeMemory,
      computeCapability: d.computeCapability,
      cores: d.multiprocessors,
    });
  }
  return devices;
}

function cudaIds(): string[] {
  return nativeBinding().listCudaDevices().devices.map((d) => `cuda:${d.index}`);
}

function noCuda(what: string): TorchpoolError {
  const query = nativeBinding().listCudaDevices();
  return new TorchpoolError(
    ErrorCodes.NO_DEVICE,
    `${what} was requested but no CUDA device is usable: ${query.note || 'none found'}`,
  );
}

/** Turns a `devices` option into one device id per engine, checking each exists. */
export function resolveDevices(selection: DeviceSelection | undefined): string[] {
  if (selection === undefined || selection === 'all') {
    const cuda = cudaIds();
    return cuda.length > 0 ? cuda : ['cpu'];
  }
  if (selection === 'cpu') return ['cpu'];
  if (selection === 'cuda') {
    const cuda = cudaIds();
    if (cuda.length === 0) throw noCuda("devices: 'cuda'");
    return cuda;
  }
  if (!Array.isArray(selection) || selection.length === 0) {
    throw invalidArg('options.devices', "'all', 'cpu', 'cuda' or a non-empty array of 'cpu' / 'cuda:N'", selection);
  }
  let available: string[] | undefined;
  return selection.map((entry: unknown, i: number) => {
    if (entry === 'cpu') return 'cpu';
    const match = typeof entry === 'string' ? /^cuda(?::(\d+))?$/.exec(entry) : null;
    if (!match) throw invalidArg(`options.devices[${i}]`, "'cpu' or 'cuda:N'", entry);
    const id = `cuda:${match[1] ?? '0'}`;
    available ??= cudaIds();
    if (!available.includes(id)) {
      if (available.length === 0) throw noCuda(`options.devices[${i}] ('${entry}')`);
      throw new TorchpoolError(
        ErrorCodes.NO_DEVICE,
        `options.devices[${i}]: ${id} does not exist; available: ${available.join(', ')}`,
      );
    }
    return id;
  });
}

/**
 * Intra-op threads for each CPU engine when not set: the cores shared evenly, at least 1. In a
 * pool that also has CUDA engines, each of those keeps two cores (its launch thread and its
 * completion thread) and the JS thread one: CPU engines that took every core starved the GPU
 * engine's launches (a cuda:0 + cpu pool ran at 0.75x the GPU alone on 16 cores).
 */
export function defaultThreadsPerEngine(devices: readonly string[], cores = os.availableParallelism()): number {
  const cpuEngines = devices.filter((d) => d === 'cpu').length;
  const cudaEngines = devices.length - cpuEngines;
  const reserved = cudaEngines > 0 ? 1 + 2 * cudaEngines : 0;
  return Math.max(1, Math.floor((cores - reserved) / Math.max(1, cpuEngines)));
}
