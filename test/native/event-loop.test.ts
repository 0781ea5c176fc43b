import { describe, expect, it } from 'vitest';
import { InferencePool, modelPath, randomFloats, worstIntervalGap } from '../support/torchpool.js';

describe('the event loop stays free during inference', () => {
  it('keeps a 1 ms interval ticking while heavy ResNet forwards run', async () => {
    // One engine with one thread leaves the JS thread a core of its own on a 2-core machine.
    const pool = await InferencePool.create({ model: await modelPath('resnet18'), devices: 'cpu', threadsPerEngine: 1 });
    const image = { data: randomFloats(8 * 3 * 96 * 96, 1), shape: [8, 3, 96, 96] };
    await pool.infer(image); // warm-up

    const { worst: worstGap, elapsed } = await worstIntervalGap(() => Promise.all(Array.from({ length: 8 }, () => pool.infer(image))));
    const busyMs = pool.stats().engines[0]!.busyMs;
    await pool.close();

    // The forwards took far longer than the gap allowed, so running them on the JS thread
    // (or blocking it while waiting) would fail this test.
    expect(busyMs).toBeGreaterThan(300);
    expect(elapsed).toBeGreaterThan(200);
    expect(worstGap).toBeLessThan(Math.min(50, elapsed / 4));
  });
});
