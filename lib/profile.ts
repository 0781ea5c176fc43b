/**
 * `pool.profile()`: records what the pool's engines run for a while (libtorch's RecordFunction
 * callbacks on the engine threads, native/engine/op_profiler.h) and, with CUDA engines, what
 * the GPU ran (Kineto, native/engine/kernel_trace.h), while serving goes on, and writes a Chrome
 * trace (`traceEvents` JSON, which Perfetto and chrome://tracing open).
 * @module
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { invalidArg } from './errors.js';
import type { NativePool } from './native-types.js';
import { checkKnownKeys, checkOptionsObject, checkPositiveInteger } from './validate.js';

/** Options of {@link InferencePool.profile}. */
export interface ProfileOptions {
  /** How long to record, in milliseconds. Default 2000 when `requests` is not given either. */
  durationMs?: number;
  /** Record until this many more requests were completed (by every thread of the pool). */
  requests?: number;
  /** Where the Chrome trace goes; default a new file in the OS's temporary folder. */
  path?: string;
}

/** One operator (or TorchScript function) in the table of a profile. */
export interface ProfiledOp {
  name: string;
  calls: number;
  /** Time in the operator itself, less the operators it called, summed over its calls. */
  selfMs: number;
  /** Time from its start to its end, summed over its calls. */
  totalMs: number;
}

/** One GPU kernel (or copy, or memset) in the table of a profile of a pool with CUDA engines. */
export interface ProfiledKernel {
  name: string;
  /** The CUDA device index it ran on. */
  device: number;
  calls: number;
  /** Its time on the GPU, summed over its calls. */
  totalMs: number;
}

/** What {@link InferencePool.profile} resolves with. */
export interface ProfileResult {
  /** The Chrome trace file. */
  tracePath: string;
  /** Every operator that ran, slowest (by self time) first. */
  ops: ProfiledOp[];
  /** How long it recorded, and the requests completed meanwhile. */
  durationMs: number;
  requests: number;
  /** Events past the recording limit (2,000,000), not in the trace. */
  dropped: number;
  /**
   * With CUDA engines: what the GPU ran (kernels, copies, memsets), recorded through libtorch's
   * Kineto profiler, longest total first. Empty for CPU engines, and where nothing could be
   * recorded (`kernelNote` says why).
   */
  kernels: ProfiledKernel[];
  /** Why a pool with CUDA engines recorded no GPU activity (for example another pool of the process was recording). */
  kernelNote?: string;
}

const PROFILE_OPTION_KEYS = Object.keys({ durationMs: true, requests: true, path: true } satisfies Record<keyof ProfileOptions, true>);
let traces = 0;

/** Checks the options; throws ERR_TORCHPOOL_INVALID_ARG. */
export function checkProfileOptions(options: ProfileOptions | undefined): { durationMs: number | undefined; requests: number | undefined; path: string } {
  const checked = checkOptionsObject(options);
  checkKnownKeys(checked, PROFILE_OPTION_KEYS, 'options');
  const { durationMs, requests } = checked;
  if (durationMs !== undefined && (typeof durationMs !== 'number' || !(durationMs > 0) || durationMs > 3_600_000)) {
    throw invalidArg('options.durationMs', 'a number of milliseconds between 0 (exclusive) and 3600000', durationMs);
  }
  checkPositiveInteger(requests, 'options.requests', 100_000_000);
  if (checked.path !== undefined && (typeof checked.path !== 'string' || checked.path.length === 0)) throw invalidArg('options.path', 'a file path', checked.path);
  const file = checked.path ?? path.join(os.tmpdir(), `torchpool-profile-${process.pid}-${++traces}.json`);
  return { durationMs: durationMs ?? (requests === undefined ? 2000 : undefined), requests, path: path.resolve(file) };
}

/**
 * Records (native.profileStart / profileStop) until the duration passed or the requests were
 * completed, whichever comes first; `completed` reads the pool's completed-request counter.
 */
export async function recordProfile(native: NativePool, options: ReturnType<typeof checkProfileOptions>, completed: () => number): Promise<ProfileResult> {
  native.profileStart();
  const started = performance.now();
  const before = completed();
  let recorded: ReturnType<NativePool['profileStop']> | undefined;
  try {
    await new Promise<void>((resolve) => {
      const deadline = options.durationMs === undefined ? Infinity : started + options.durationMs;
      const poll = () => {
        const done = options.requests !== undefined && completed() - before >= options.requests;
        if (done || performance.now() >= deadline) resolve();
        else setTimeout(poll, Math.min(10, Math.max(1, deadline - performance.now())));
      };
      poll();
    });
  } finally {
    recorded = native.profileStop();
  }
  const durationMs = performance.now() - started;
  const { names, events, dropped, kernels, kernelNote } = recorded;
  await fs.promises.mkdir(path.dirname(options.path), { recursive: true });
  await fs.promises.writeFile(options.path, chromeTrace(names, events, kernels));
  const result: ProfileResult = { tracePath: options.path, ops: opTable(names, events), durationMs, requests: completed() - before, dropped, kernels: kernelTable(names, kernels) };
  if (kernelNote !== undefined) result.kernelNote = kernelNote;
  return result;
}

// Chrome trace tracks of GPU activity: one per device, after the engines' tracks.
const GPU_TRACK = 1000;

/** Chrome trace JSON: one complete event ("X") per operator, a track per engine, and one per GPU for its kernels. */
function chromeTrace(names: string[], events: Float64Array, kernels: Float64Array): string {
  const items: string[] = [];
  const tracks = new Map<number, string>();
  const add = (table: Float64Array, category: string, track: (i: number) => number, label: (i: number) => string) => {
    for (let i = 0; i < table.length; i += 4) {
      const tid = track(i);
      if (!tracks.has(tid)) tracks.set(tid, label(i));
      items.push(`{"name":${JSON.stringify(names[table[i]!])},"cat":"${category}","ph":"X","pid":${process.pid},"tid":${tid},"ts":${table[i + 2]!.toFixed(3)},"dur":${table[i + 3]!.toFixed(3)}}`);
    }
  };
  add(events, 'cpu_op', (i) => events[i + 1]!, (i) => `torchpool engine ${events[i + 1]}`);
  add(kernels, 'kernel', (i) => GPU_TRACK + kernels[i + 1]!, (i) => `GPU cuda:${kernels[i + 1]}`);
  for (const [tid, label] of tracks) items.push(`{"name":"thread_name","ph":"M","pid":${process.pid},"tid":${tid},"args":{"name":${JSON.stringify(label)}}}`);
  return `{"displayTimeUnit":"ms","traceEvents":[${items.join(',\n')}]}\n`;
}

/** Calls and GPU time per kernel name and device, longest total first. */
function kernelTable(names: string[], kernels: Float64Array): ProfiledKernel[] {
  const byKey = new Map<string, ProfiledKernel>();
  for (let i = 0; i < kernels.length; i += 4) {
    const name = names[kernels[i]!]!;
    const device = kernels[i + 1]!;
    const key = `${device}\u0000${name}`;
    const kernel = byKey.get(key) ?? { name, device, calls: 0, totalMs: 0 };
    byKey.set(key, kernel);
    kernel.calls += 1;
    kernel.totalMs += kernels[i + 3]! / 1000;
  }
  return [...byKey.values()].sort((a, b) => b.totalMs - a.totalMs);
}

/** Calls, self and total time per name; self time is an event's duration less its children's. */
function opTable(names: string[], events: Float64Array): ProfiledOp[] {
  const byEngine = new Map<number, number[]>();
  for (let i = 0; i < events.length; i += 4) {
    const list = byEngine.get(events[i + 1]!) ?? [];
    list.push(i);
    byEngine.set(events[i + 1]!, list);
  }
  const ops = new Map<string, ProfiledOp>();
  for (const list of byEngine.values()) {
    // Parents start first and end last: sorted by start (longest first at a tie), a stack finds each event's parent.
    list.sort((a, b) => events[a + 2]! - events[b + 2]! || events[b + 3]! - events[a + 3]!);
    const stack: { end: number; op: ProfiledOp }[] = [];
    for (const i of list) {
      const start = events[i + 2]!;
      const durationMs = events[i + 3]! / 1000;
      while (stack.length > 0 && stack.at(-1)!.end <= start) stack.pop();
      const name = names[events[i]!]!;
      const op = ops.get(name) ?? { name, calls: 0, selfMs: 0, totalMs: 0 };
      ops.set(name, op);
      op.calls += 1;
      op.totalMs += durationMs;
      op.selfMs += durationMs;
      const parent = stack.at(-1);
      if (parent) parent.op.selfMs -= durationMs;
      stack.push({ end: start + events[i + 3]!, op });
    }
  }
  return [...ops.values()].sort((a, b) => b.selfMs - a.selfMs);
}
