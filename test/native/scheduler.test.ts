// The shared work-stealing queue and dynamic batching, on CPU engines with real TorchScript
// models. Costs come from the `cost` model (forward(x, iters): a loop of 64x64 matmuls).
import { describe, expect, it } from 'vitest';
import { ErrorCodes, InferencePool, type OutputTensor, type TorchpoolError, maxRelativeError, modelPath, randomFloats, costInput } from '../support/torchpool.js';

const row = (values: Float32Array, width: number) => ({ data: values, shape: [values.length / width, width] });

describe('work stealing', () => {
  it('gives the cheap items to the free engine while the other is stuck on an expensive one', async () => {
    const pool = await InferencePool.create({ model: await modelPath('cost'), devices: ['cpu', 'cpu'], threadsPerEngine: 1, batching: false });
    try {
      // About 200 ms for the expensive item, under 1 ms for each cheap one.
      const expensive = pool.infer(costInput(60_000));
      const cheap = Array.from({ length: 40 }, () => pool.infer(costInput(200)));
      await Promise.all([expensive, ...cheap]);
      const [a, b] = pool.stats().engines as [any, any];
      const [slow, fast] = a.busyMs > b.busyMs ? [a, b] : [b, a];
      expect(slow.requests + fast.requests).toBe(41);
      // A static split would give each engine 20 or 21 items; the shared queue does not.
      expect(fast.requests).toBeGreaterThanOrEqual(35);
      expect(slow.requests).toBeLessThanOrEqual(6);
      // Items that landed in the busy engine's deque were stolen by the free one.
      expect(fast.stolen).toBeGreaterThan(0);
    } finally {
      await pool.close();
    }
  });

  it('runs instancesPerDevice replicas per device, each an engine of its own', async () => {
    const pool = await InferencePool.create({ model: await modelPath('cost'), devices: 'cpu', instancesPerDevice: 2 });
    try {
      expect(pool.devices).toEqual(['cpu', 'cpu']);
      const engines = pool.stats().engines;
      expect(engines.map((e) => [e.device, e.instance])).toEqual([['cpu', 0], ['cpu', 1]]);
      await Promise.all(Array.from({ length: 8 }, () => pool.infer(costInput(20_000), { batching: false })));
      expect(pool.stats().engines.every((e) => e.requests > 0)).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('rejects a bad instancesPerDevice', async () => {
    const err = await InferencePool.create({ model: await modelPath('tiny'), instancesPerDevice: 0 }).catch((e: TorchpoolError) => e);
    expect((err as TorchpoolError).code).toBe(ErrorCodes.INVALID_ARG);
    expect((err as TorchpoolError).message).toBe('Expected an integer between 1 and 64 for options.instancesPerDevice but received 0 of type number');
  });
});

describe('dynamic batching', () => {
  // A queue delay makes the merge deterministic: the first request waits for the others.
  const batched = { devices: 'cpu' as const, maxBatchSize: 64, maxQueueDelayMicros: 200_000 };

  it('merges concurrent requests and splits tuple and dict outputs back exactly', async () => {
    for (const name of ['tuple_out', 'dict_out']) {
      const pool = await InferencePool.create({ model: await modelPath(name), ...batched });
      try {
        const inputs = Array.from({ length: 24 }, (_, i) => randomFloats(8, i + 1));
        const together = await Promise.all(inputs.map((x) => pool.infer(row(x, 8))));
        const alone = [];
        for (const x of inputs) alone.push(await pool.infer(row(x, 8), { batching: false }));
        expect(together).toEqual(alone);
        // Every tensor of every result owns exactly its bytes, whether it came back in the shared
        // buffer of a batch of results or on its own.
        for (const result of [...together, ...alone]) {
          for (const tensor of Object.values(result as Record<string, OutputTensor>)) {
            expect(tensor.data.byteOffset).toBe(0);
            expect(tensor.data.buffer.byteLength).toBe(tensor.data.byteLength);
          }
        }
        if (name === 'tuple_out') {
          const [plus, times] = together[3] as [OutputTensor, OutputTensor];
          expect(plus.shape).toEqual([1, 8]);
          expect(Array.from(plus.data as Float32Array)).toEqual(Array.from(inputs[3]!, (v) => Math.fround(v + 1)));
          expect(Array.from(times.data as Float32Array)).toEqual(Array.from(inputs[3]!, (v) => v * 2));
        }
        const stats = pool.stats();
        expect(stats.engines[0]!.meanBatchSize).toBeGreaterThan(1);
        expect(stats.batching.enabled).toBe(true);
      } finally {
        await pool.close();
      }
    }
  });

  it('matches unbatched MLP results to float precision', async () => {
    const pool = await InferencePool.create({ model: await modelPath('mlp'), ...batched });
    try {
      const inputs = Array.from({ length: 16 }, (_, i) => randomFloats(256, 100 + i));
      const together = await Promise.all(inputs.map((x) => pool.infer<OutputTensor>(row(x, 256))));
      for (let i = 0; i < inputs.length; i++) {
        const alone = await pool.infer<OutputTensor>(row(inputs[i]!, 256), { batching: false });
        expect(together[i]!.shape).toEqual([1, 10]);
        expect(maxRelativeError(together[i]!.data as Float32Array, alone.data as Float32Array)).toBeLessThan(1e-5);
      }
      expect(pool.stats().meanBatchSize).toBeGreaterThan(1);
    } finally {
      await pool.close();
    }
  });

  it('keeps requests of other shapes, dtypes or arguments in separate batches', async () => {
    const pool = await InferencePool.create({ model: await modelPath('cost'), ...batched });
    try {
      const x4 = randomFloats(64 * 2, 7);
      const calls = [
        pool.infer<OutputTensor>([row(x4, 64), 3]),
        pool.infer<OutputTensor>([row(x4.subarray(0, 64), 64), 3]),
        pool.infer<OutputTensor>([row(x4.subarray(0, 64), 64), 5]), // other iters: not merged
        // float64 against the float32 weights: fails, in a batch of its own, harming no one.
        pool.infer<OutputTensor>([{ data: new Float64Array(64).fill(0.5), shape: [1, 64] }, 3]).catch((e: TorchpoolError) => e),
      ];
      const [two, one, five, wrongDtype] = (await Promise.all(calls)) as OutputTensor[];
      expect((wrongDtype as unknown as TorchpoolError).code).toBe(ErrorCodes.FORWARD);
      expect(two!.shape).toEqual([2, 64]);
      const aloneOne = await pool.infer<OutputTensor>([row(x4.subarray(0, 64), 64), 3], { batching: false });
      const aloneFive = await pool.infer<OutputTensor>([row(x4.subarray(0, 64), 64), 5], { batching: false });
      expect(maxRelativeError(one!.data as Float32Array, aloneOne.data as Float32Array)).toBeLessThan(1e-6);
      expect(maxRelativeError(five!.data as Float32Array, aloneFive.data as Float32Array)).toBeLessThan(1e-6);
      expect(maxRelativeError((two!.data as Float32Array).subarray(0, 64), aloneOne.data as Float32Array)).toBeLessThan(1e-6);
    } finally {
      await pool.close();
    }
  });

  it('counts rows toward maxBatchSize', async () => {
    const pool = await InferencePool.create({ model: await modelPath('tuple_out'), devices: 'cpu', maxBatchSize: 4, maxQueueDelayMicros: 100_000 });
    try {
      const outs = await Promise.all(Array.from({ length: 8 }, (_, i) => pool.infer<OutputTensor[]>(row(randomFloats(16, i + 1), 8))));
      expect(outs.every(([plus]) => plus!.shape[0] === 2)).toBe(true);
      const stats = pool.stats();
      expect(stats.requests).toBe(8);
      // Two 2-row requests fill a batch of 4; a third would not fit.
      expect(stats.meanBatchSize).toBeLessThanOrEqual(2);
      expect(stats.meanBatchSize).toBeGreaterThan(1);
    } finally {
      await pool.close();
    }
  });

  it('retries the members of a failed batch one by one: only the bad request fails', async () => {
    const pool = await InferencePool.create({ model: await modelPath('raises'), ...batched });
    try {
      const inputs = Array.from({ length: 12 }, (_, i) => new Float32Array([i + 1, i + 2, i + 3]));
      inputs[5]![1] = -1;
      const settled = await Promise.allSettled(inputs.map((x) => pool.infer<OutputTensor>(row(x, 3))));
      settled.forEach((r, i) => {
        if (i === 5) {
          expect(r.status).toBe('rejected');
          expect(((r as PromiseRejectedResult).reason as TorchpoolError).code).toBe(ErrorCodes.FORWARD);
          expect(((r as PromiseRejectedResult).reason as TorchpoolError).message).toMatch(/ValueError: torchpool test model: negative input/);
        } else {
          expect(r.status).toBe('fulfilled');
          expect(Array.from((r as PromiseFulfilledResult<OutputTensor>).value.data as Float32Array)).toEqual(Array.from(inputs[i]!, (v) => v * 2));
        }
      });
      const engine = pool.stats().engines[0]!;
      expect(engine.retried).toBeGreaterThan(1);
      expect(engine.failures).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('turns itself off for a model whose output does not keep the rows, and still answers right', async () => {
    const pool = await InferencePool.create({ model: await modelPath('batch_sum'), ...batched });
    try {
      const inputs = Array.from({ length: 8 }, (_, i) => randomFloats(4, i + 1));
      const outs = await Promise.all(inputs.map((x) => pool.infer<OutputTensor>(row(x, 4))));
      outs.forEach((out, i) => {
        expect(out.shape).toEqual([4]);
        expect(Array.from(out.data as Float32Array)).toEqual(Array.from(inputs[i]!));
      });
      const { batching } = pool.stats();
      expect(batching.enabled).toBe(false);
      expect(batching.disabledReason).toMatch(/output has shape \[4\], not \d+ rows in dim 0/);
    } finally {
      await pool.close();
    }
  });

  it('merges the callers that one batch of results resumes, even when the engine waits on the JS thread', async () => {
    // On the tiny model the engine is faster than the JS thread and idle most of the time. The
    // callers one batch of results resumes resubmit in one turn of the event loop: the first
    // request of the turn goes at once, the others together at its end, so they merge, with no
    // queue delay. (Submitted one by one, the engine woke for the first and took 4-5 on average.)
    const pool = await InferencePool.create({ model: await modelPath('tiny'), devices: 'cpu', maxBatchSize: 32 });
    try {
      const x = { data: new Float32Array(16).fill(1), shape: [1, 16] };
      let left = 20_000;
      const caller = async () => { while (left-- > 0) await pool.infer(x); };
      await Promise.all(Array.from({ length: 64 }, caller));
      expect(pool.stats().meanBatchSize).toBeGreaterThan(10);
    } finally {
      await pool.close();
    }
  });

  it('gives each of several CPU engines an even share of the callers that batches of results resume', async () => {
    // Two one-thread engines and 64 callers. A batch's results reach the JS thread in one
    // wake-up, and the callers they resume (however many awaits deep) send their next requests
    // together, so the idle engine takes half the pool in one batch. Before, the first request
    // went alone to the idle engine and the rest followed in fragments: a mean batch of 21-24.
    const pool = await InferencePool.create({ model: await modelPath('mlp'), devices: ['cpu', 'cpu'], threadsPerEngine: 1, maxBatchSize: 64 });
    try {
      const x = row(randomFloats(256, 9), 256);
      let left = 64 * 100;
      const caller = async () => { while (left-- > 0) await pool.infer(x); };
      await Promise.all(Array.from({ length: 64 }, caller));
      const { meanBatchSize, engines } = pool.stats();
      expect(meanBatchSize).toBeGreaterThan(28);
      expect(meanBatchSize).toBeLessThanOrEqual(32);
      for (const engine of engines) expect(engine.requests).toBeGreaterThan(64 * 20);
    } finally {
      await pool.close();
    }
  });

  it('starts a request at once, while the code that made it keeps the JS thread busy', async () => {
    const pool = await InferencePool.create({ model: await modelPath('cost'), devices: 'cpu', threadsPerEngine: 1 });
    try {
      await pool.infer(costInput(10));
      const ran = pool.stats().engines[0]!.requests;
      const pending = pool.infer(costInput(2_000)); // a few milliseconds of forward
      const until = performance.now() + 300;
      while (performance.now() < until) { /* the caller's own synchronous work */ }
      expect(pool.stats().engines[0]!.requests).toBe(ran + 1);
      await pending;
    } finally {
      await pool.close();
    }
  });

  it('counts requests made just before close() or stats() as made before them', async () => {
    const pool = await InferencePool.create({ model: await modelPath('mlp'), devices: 'cpu' });
    const made = pool.infer<OutputTensor>(row(randomFloats(256, 3), 256));
    expect(pool.stats().inFlight).toBe(1);
    const abort = new AbortController();
    const aborted = pool.infer(row(randomFloats(256, 4), 256), { signal: abort.signal });
    abort.abort();
    await expect(aborted).rejects.toMatchObject({ code: ErrorCodes.ABORTED });
    const last = pool.infer<OutputTensor>(row(randomFloats(256, 5), 256));
    await pool.close({ drain: true });
    expect((await made).shape).toEqual([1, 10]);
    expect((await last).shape).toEqual([1, 10]);
  });

  it('runs every request alone with batching: false', async () => {
    const pool = await InferencePool.create({ model: await modelPath('tuple_out'), devices: 'cpu', batching: false, maxQueueDelayMicros: 100_000 });
    try {
      await Promise.all(Array.from({ length: 10 }, (_, i) => pool.infer(row(randomFloats(8, i + 1), 8))));
      const stats = pool.stats();
      expect(stats.meanBatchSize).toBe(1);
      expect(stats.batching).toEqual({ enabled: false, maxBatchSize: 1, maxQueueDelayMicros: 100_000 });
    } finally {
      await pool.close();
    }
  });
});
