// Every throw and rejection of the public API is a TorchpoolError with a known code, whatever it
// is given: a seeded fuzz over each entry point with odd values (wrong types, NaN, huge and
// negative sizes, SharedArrayBuffers, detached buffers, DataViews, symbols, proxies, ...). The
// pool keeps serving throughout.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes, InferencePool, TorchpoolError, builtinModelNames, builtinModelPath, cacheDir,
  listDevices, modelPath, tensor, type OutputTensor,
} from '../support/torchpool.js';

const codes = new Set<string>(Object.values(ErrorCodes));

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 0x100000000;
  };
}

function detachedFloats(): Float32Array {
  const buffer = new ArrayBuffer(16);
  const view = new Float32Array(buffer);
  structuredClone(buffer, { transfer: [buffer] });
  return view;
}

/** An odd value of any kind; `depth` bounds nesting. */
function oddValue(random: () => number, depth = 0): unknown {
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)] as T;
  const kind = Math.floor(random() * (depth > 2 ? 14 : 20));
  switch (kind) {
    case 0: return pick([undefined, null, true, false]);
    case 1: return pick([0, -1, 1, 1.5, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 31), 1e300]);
    case 2: return pick(['', 'cpu', 'cuda:0', 'cuda:99', 'all', 'float32', 'x'.repeat(1000), 'fp16', '\u0000']);
    case 3: return pick([0n, -1n, 2n ** 70n]);
    case 4: return Symbol('odd');
    case 5: return () => 1;
    case 6: return new Float32Array(Math.floor(random() * 8));
    case 7: return new Float32Array(new SharedArrayBuffer(16));
    case 8: return detachedFloats();
    case 9: return new DataView(new ArrayBuffer(8));
    case 10: return pick([new Int32Array(4), new Uint16Array(4), new BigInt64Array(2), new Uint8ClampedArray(4), new Float64Array(4), new Uint32Array(4)]);
    case 11: return new Proxy({}, {});
    case 12: return new Date(0);
    case 13: return Object.create(null);
    case 14: case 15: {
      // Tensor-like objects with odd parts.
      const t: Record<string, unknown> = {};
      if (random() < 0.9) t.data = random() < 0.5 ? new Float32Array(4) : oddValue(random, depth + 1);
      if (random() < 0.9) t.shape = random() < 0.4 ? [pick([1, 2, 4, -1, 0.5, 2 ** 40, NaN]), pick([1, 2, 4])] : oddValue(random, depth + 1);
      if (random() < 0.4) t.dtype = oddValue(random, depth + 1);
      return t;
    }
    case 16: case 17: return Array.from({ length: Math.floor(random() * 4) }, () => oddValue(random, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(random() * 4); i > 0; i--) o[pick(['data', 'shape', 'dtype', 'x', 'signal', 'timeoutMs', 'priority', 'batching'])] = oddValue(random, depth + 1);
      return o;
    }
  }
}

/** Odd pool options: mostly valid ones with one or two odd fields, so deep checks are reached. */
function oddOptions(random: () => number, model: string): unknown {
  if (random() < 0.1) return oddValue(random);
  const fields = [
    'devices', 'instancesPerDevice', 'threadsPerEngine', 'optimize', 'batching', 'maxBatchSize', 'maxQueueDelayMicros',
    'spinMicros', 'maxQueueSize', 'priorityAgingMs', 'unhealthyAfter', 'precision', 'outputDtype', 'channelsLast',
    'warmup', 'pipelineDepth', 'fillWhileBusy', 'pinnedMemoryBytes', 'cudaGraphs', 'maxCudaGraphs', 'cudnnBenchmark', 'allowTF32',
  ];
  const options: Record<string, unknown> = { model: random() < 0.15 ? oddValue(random) : model, devices: 'cpu' };
  for (let i = 1 + Math.floor(random() * 2); i > 0; i--) {
    options[fields[Math.floor(random() * fields.length)] as string] = oddValue(random);
  }
  return options;
}

async function settle(call: () => unknown): Promise<unknown> {
  try {
    const value = call();
    if (value && typeof (value as Promise<unknown>).then === 'function') return await (value as Promise<unknown>);
    if (value && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
      for await (const item of value as AsyncIterable<unknown>) void item;
    }
    return value;
  } catch (error) {
    return { thrown: error };
  }
}

function expectCoded(result: unknown, what: string): void {
  if (typeof result !== 'object' || result === null || !('thrown' in result)) return;
  const error = (result as { thrown: unknown }).thrown;
  if (!(error instanceof TorchpoolError) || !codes.has(error.code)) {
    throw new Error(`${what} threw something that is not a coded TorchpoolError: ${String(error)} (${(error as Error)?.constructor?.name})`);
  }
}

describe('every error of the public API is a coded TorchpoolError', () => {
  let pool: InferencePool;
  let tiny: string;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-fuzz-'));
  beforeAll(async () => {
    tiny = await modelPath('tiny');
    pool = await InferencePool.create({ model: tiny, devices: 'cpu' });
  });
  afterAll(async () => {
    await pool.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('for infer(), inferBatch(), map() and their options', async () => {
    const random = rng(1234);
    const pick = () => oddValue(random);
    for (let i = 0; i < 3000; i++) {
      const which = i % 4;
      const input = random() < 0.3 ? { data: new Float32Array(16), shape: [1, 16] } : pick();
      const options = random() < 0.5 ? undefined : pick();
      const result = await settle(() => {
        if (which === 0) return pool.infer(input as never, options as never);
        if (which === 1) return pool.inferBatch(input as never, options as never);
        if (which === 2) return pool.map(random() < 0.5 ? [input] as never : input as never, options as never);
        return pool.infer([input] as never, options as never);
      });
      expectCoded(result, `call ${i} (${['infer', 'inferBatch', 'map', 'infer([..])'][which]})`);
    }
    const out = await pool.infer<OutputTensor>({ data: new Float32Array(16), shape: [1, 16] });
    expect(out.shape).toEqual([1, 16]);
  });

  it('for create(), close(), share(), attach(), allocInput(), tensor(), listDevices() and builtinModelPath()', async () => {
    const random = rng(99);
    for (let i = 0; i < 250; i++) {
      const result = await settle(() => InferencePool.create(oddOptions(random, tiny) as never));
      if (result instanceof InferencePool) await result.close();
      expectCoded(result, `create ${i}`);
    }
    for (let i = 0; i < 300; i++) {
      expectCoded(await settle(() => InferencePool.attach(oddValue(random) as never)), `attach ${i}`);
      expectCoded(await settle(() => pool.allocInput(oddValue(random) as never, oddValue(random) as never)), `allocInput ${i}`);
      expectCoded(await settle(() => tensor(oddValue(random) as never, oddValue(random) as never, oddValue(random) as never)), `tensor ${i}`);
      expectCoded(await settle(() => builtinModelPath(oddValue(random) as never, oddValue(random) as never)), `builtinModelPath ${i}`);
      // A string cacheDir that happens to be valid is relative to the working directory: keep it in a scratch one.
      const dir = oddValue(random);
      const options = { cacheDir: typeof dir === 'string' && dir !== '' ? path.join(scratch, dir) : dir, seed: oddValue(random) };
      expectCoded(await settle(() => builtinModelPath(builtinModelNames()[0] as string, options as never)), `builtinModelPath options ${i}`);
    }
    expectCoded(await settle(() => listDevices()), 'listDevices');
    const other = await InferencePool.create({ model: tiny, devices: 'cpu' });
    for (let i = 0; i < 50; i++) expectCoded(await settle(() => other.close(oddValue(random) as never)), `close ${i}`);
    await other.close();
    expectCoded(await settle(() => other.share()), 'share after close');
    expectCoded(await settle(() => other.allocInput([1, 16])), 'allocInput after close');
    expectCoded(await settle(() => other.infer({ data: new Float32Array(16), shape: [1, 16] })), 'infer after close');
    expectCoded(await settle(() => other.stats()), 'stats after close');
    expect(cacheDir).toBeTruthy();
  });
});
