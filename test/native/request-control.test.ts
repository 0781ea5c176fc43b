// infer(inputs, { signal, timeoutMs, priority }), maxQueueSize and close({ drain }), on one
// CPU engine kept busy by the `cost` model so that requests really wait in the queue.
import * as diagnostics from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { channels, ErrorCodes, InferencePool, type QueueFullEvent, type TorchpoolError, modelPath, costInput, codeOf } from '../support/torchpool.js';

const LONG = 40_000; // about 130 ms on one core

async function onePool(options: Record<string, unknown> = {}) {
  return InferencePool.create({ model: await modelPath('cost'), devices: 'cpu', threadsPerEngine: 1, batching: false, ...options });
}

/** Resolves once the engine has started a forward. */
async function engineBusy(pool: InferencePool) {
  while (!pool.stats().engines[0]!.busy) await new Promise((r) => setTimeout(r, 1));
}

describe('AbortSignal', () => {
  it('removes a queued request and rejects it with ABORTED at once, with the reason as cause', async () => {
    const pool = await onePool();
    try {
      const running = pool.infer(costInput(LONG));
      await engineBusy(pool);
      const controller = new AbortController();
      const queued = pool.infer(costInput(1), { signal: controller.signal });
      expect(pool.stats().queueDepth).toBe(1);
      const reason = new Error('user left');
      controller.abort(reason);
      const error = (await queued.catch((e: TorchpoolError) => e)) as TorchpoolError;
      expect(error.code).toBe(ErrorCodes.ABORTED);
      expect(error.message).toBe('the request was aborted: user left');
      expect(error.cause).toBe(reason);
      expect(pool.stats().queueDepth).toBe(0);
      await running;
      expect(pool.stats().requests).toBe(1); // the aborted request never ran
    } finally {
      await pool.close();
    }
  });

  it('rejects a running request at once; its forward finishes and the pool goes on', async () => {
    const pool = await onePool();
    try {
      const controller = new AbortController();
      const running = pool.infer(costInput(LONG), { signal: controller.signal });
      await engineBusy(pool);
      controller.abort();
      expect(await codeOf(running)).toBe(ErrorCodes.ABORTED);
      expect(await codeOf(pool.infer(costInput(1)))).toBe('ok');
      expect(pool.stats().requests).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('rejects without queueing when the signal is already aborted', async () => {
    const pool = await onePool();
    try {
      expect(await codeOf(pool.infer(costInput(1), { signal: AbortSignal.abort() }))).toBe(ErrorCodes.ABORTED);
      expect(pool.stats().requests).toBe(0);
    } finally {
      await pool.close();
    }
  });

  it('settles every promise exactly once when aborts race with completions', async () => {
    const pool = await onePool({ devices: ['cpu', 'cpu'], batching: true });
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const controller = new AbortController();
        const p = codeOf(pool.infer(costInput(i % 7 === 0 ? 2_000 : 50), { signal: controller.signal }));
        if (i % 3 === 0) setImmediate(() => controller.abort());
        else if (i % 3 === 1) setTimeout(() => controller.abort(), i % 5);
        return p;
      }),
    );
    expect(outcomes.every((c) => c === 'ok' || c === ErrorCodes.ABORTED)).toBe(true);
    expect(outcomes).toContain(ErrorCodes.ABORTED);
    await pool.close();
    expect(pool.stats().inFlight).toBe(0);
  });
});

describe('timeoutMs', () => {
  it('rejects with TIMEOUT a request that has not started in time; one that starts in time resolves', async () => {
    const pool = await onePool();
    try {
      const running = pool.infer(costInput(LONG), { timeoutMs: 60_000 });
      await engineBusy(pool);
      const late = pool.infer(costInput(1), { timeoutMs: 10 });
      const error = (await late.catch((e: TorchpoolError) => e)) as TorchpoolError;
      expect(error.code).toBe(ErrorCodes.TIMEOUT);
      expect(error.message).toBe('the request did not start within its timeoutMs');
      expect(await codeOf(running)).toBe('ok');
      expect(pool.stats().requests).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('checks its options', async () => {
    const pool = await onePool();
    try {
      const e = (await pool.infer(costInput(1), { timeoutMs: -5 }).catch((x: TorchpoolError) => x)) as TorchpoolError;
      expect(e.code).toBe(ErrorCodes.INVALID_ARG);
      expect(e.message).toBe('Expected a number of milliseconds between 0 (exclusive) and 2147483647 for options.timeoutMs but received -5 of type number');
      const p = (await pool.infer(costInput(1), { priority: 'urgent' as 'high' }).catch((x: TorchpoolError) => x)) as TorchpoolError;
      expect(p.message).toMatch(/^Expected an integer between -1000000 and 1000000, or 'high', 'normal' or 'low' for options.priority/);
      const s = (await pool.infer(costInput(1), { signal: {} as AbortSignal }).catch((x: TorchpoolError) => x)) as TorchpoolError;
      expect(s.message).toBe('Expected an AbortSignal for options.signal but received an instance of Object');
    } finally {
      await pool.close();
    }
  });
});

describe('priority', () => {
  it('serves higher levels first', async () => {
    const pool = await onePool({ priorityAgingMs: 0 });
    try {
      const blocker = pool.infer(costInput(LONG));
      await engineBusy(pool);
      const order: string[] = [];
      const levels = ['low', 'normal', 'high', 5, 'low', 'high', 'normal', -3] as const;
      const calls = levels.map((priority, i) =>
        pool.infer(costInput(1), { priority }).then(() => order.push(`${priority}#${i}`)),
      );
      await Promise.all([blocker, ...calls]);
      expect(order).toEqual(['5#3', 'high#2', 'high#5', 'normal#1', 'normal#6', 'low#0', 'low#4', '-3#7']);
    } finally {
      await pool.close();
    }
  });

  it('does not starve low priority under a sustained stream of high priority', async () => {
    const pool = await onePool({ priorityAgingMs: 5 });
    try {
      let highsDone = 0;
      let lowDoneAfter = -1;
      const low = pool.infer(costInput(300), { priority: 'low' }).then(() => (lowDoneAfter = highsDone));
      // Keep four high-priority requests queued at all times, 300 in all (about 1 ms each).
      let submitted = 0;
      const stream = async () => {
        while (submitted < 300) {
          submitted++;
          await pool.infer(costInput(300), { priority: 'high' });
          highsDone++;
        }
      };
      await Promise.all([low, stream(), stream(), stream(), stream()]);
      expect(lowDoneAfter).toBeGreaterThanOrEqual(0);
      expect(lowDoneAfter).toBeLessThan(150);
    } finally {
      await pool.close();
    }
  });
});

describe('maxQueueSize', () => {
  it('rejects with QUEUE_FULL beyond the limit, emits queueFull, and accepts again once drained', async () => {
    const pool = await onePool({ maxQueueSize: 2 });
    const events: QueueFullEvent[] = [];
    const published: unknown[] = [];
    const onMessage = (message: unknown) => published.push(message);
    pool.on('queueFull', (e) => events.push(e));
    diagnostics.subscribe(channels.queueFull, onMessage);
    try {
      const running = pool.infer(costInput(LONG));
      await engineBusy(pool);
      const queued = [pool.infer(costInput(1)), pool.infer(costInput(1))];
      const refused = (await pool.infer(costInput(1)).catch((e: TorchpoolError) => e)) as TorchpoolError;
      expect(refused.code).toBe(ErrorCodes.QUEUE_FULL);
      expect(refused.message).toBe('the queue is full (2 requests waiting; maxQueueSize)');
      await Promise.resolve();
      expect(events).toEqual([{ queueDepth: 2, maxQueueSize: 2 }]);
      expect(published).toEqual([{ pool, queueDepth: 2, maxQueueSize: 2 }]);
      await Promise.all([running, ...queued]);
      expect(await codeOf(pool.infer(costInput(1)))).toBe('ok');
    } finally {
      diagnostics.unsubscribe(channels.queueFull, onMessage);
      await pool.close();
    }
  });
});

describe('close({ drain })', () => {
  it('runs every queued request before stopping with drain: true', async () => {
    const pool = await onePool();
    const running = pool.infer(costInput(LONG / 4));
    await engineBusy(pool);
    const queued = Array.from({ length: 5 }, () => pool.infer(costInput(100)));
    const closing = pool.close({ drain: true });
    expect(await codeOf(pool.infer(costInput(1)))).toBe(ErrorCodes.CLOSED);
    expect(await Promise.all([running, ...queued].map(codeOf))).toEqual(Array(6).fill('ok'));
    await closing;
    expect(pool.stats().requests).toBe(6);
  });

  it('rejects what is still queued when close() follows a drain', async () => {
    const pool = await onePool();
    const running = pool.infer(costInput(LONG));
    await engineBusy(pool);
    const queued = Array.from({ length: 3 }, () => pool.infer(costInput(LONG)));
    const closing = pool.close({ drain: true });
    expect(pool.close()).toBe(closing);
    expect(await Promise.all([running, ...queued].map(codeOf))).toEqual(['ok', ErrorCodes.CLOSED, ErrorCodes.CLOSED, ErrorCodes.CLOSED]);
    await closing;
  });
});
