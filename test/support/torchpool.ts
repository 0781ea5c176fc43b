// Tests exercise the built package (dist/), exactly what users import.
export * from '../../dist/index.js';
import { builtinModelPath } from '../../dist/index.js';
import * as path from 'node:path';

export const cacheDir = path.resolve(__dirname, '../../.cache/models');

/** Arguments of the `cost` model: `rows` rows of 64 features and the iteration count that sets its cost. */
export function costInput(iters: number, rows = 1) {
  return [{ data: new Float32Array(64 * rows).fill(0.1), shape: [rows, 64] }, iters];
}

/** 'ok' when the promise resolves, else the rejection's error code. */
export function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: { code: string }) => e.code,
  );
}

/** The path of a built-in model, generated into the repository's cache on first use. */
export function modelPath(name: string, seed = 0): Promise<string> {
  return builtinModelPath(name, { cacheDir, seed });
}

/** Formula weights of the `tiny` and `mlp` layers (native/models/model_zoo.cc). */
export function linearLayer(nOut: number, nIn: number, layer: number) {
  const w = (i: number, j: number) => Math.sin(0.37 * i + 0.11 * j + layer) / Math.sqrt(nIn);
  const b = (i: number) => Math.cos(0.23 * i + layer) * 0.1;
  return (x: Float64Array): Float64Array => {
    const y = new Float64Array(nOut);
    for (let i = 0; i < nOut; i++) {
      let s = b(i);
      for (let j = 0; j < nIn; j++) s += w(i, j) * (x[j] as number);
      y[i] = s;
    }
    return y;
  };
}

export const relu = (x: Float64Array) => x.map((v) => Math.max(0, v));

/** Largest |a - b| / max(1, |b|) over the elements. */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    worst = Math.max(worst, Math.abs((actual[i] as number) - e) / Math.max(1, Math.abs(e)));
  }
  return worst;
}

/** Deterministic pseudo-random floats in [-1, 1). */
export function randomFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = (s / 0x100000000) * 2 - 1;
  }
  return out;
}

/** Runs `work` while a 1 ms interval ticks; returns the worst gap between ticks and the elapsed time (ms). */
export async function worstIntervalGap(work: () => Promise<unknown>): Promise<{ worst: number; elapsed: number }> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  const started = performance.now();
  await work();
  clearInterval(timer);
  return { worst, elapsed: performance.now() - started };
}
