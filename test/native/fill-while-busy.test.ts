// fillWhileBusy without a GPU: the scheduler's hold (a partial batch keeps filling while the
// engine's device is busy) and the estimate of when the device is free, run through the real
// scheduler and estimate code by a small C++ program (test/native/checks/fill_while_busy.cc).
// The GPU half (an engine holding for real, rows unchanged) is in test/gpu/graph-buckets.test.ts.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');

interface Case { ms: number; batch: number; held: number }
interface Observed {
  held: Case; released: Case; full: Case; noHold: Case; deadline: Case; otherIdle: Case;
  estimate: Record<'unknown' | 'known' | 'idle' | 'late' | 'queued' | 'unseen', number>;
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', timeout: 280_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

describe('fillWhileBusy: scheduler hold and device-free estimate', () => {
  let seen: Observed;
  beforeAll(() => {
    run('cmake', ['--build', 'build', '--target', 'torchpool-fill-while-busy-check', '--parallel', '2']);
    seen = JSON.parse(run(path.join(root, 'build', 'checks', 'torchpool-fill-while-busy-check'), [])) as Observed;
  }, 300_000);

  it('keeps filling a partial batch until the hold ends, and the request that came meanwhile joins it', () => {
    expect(seen.held.batch).toBe(2);
    expect(seen.held.held).toBe(1);
    expect(seen.held.ms).toBeGreaterThanOrEqual(29); // the 30 ms hold, not maxQueueDelayMicros (0)
  });

  it('launches at once when the device empties (ReleaseHold), or when the batch is full', () => {
    for (const c of [seen.released, seen.full]) {
      expect(c.ms).toBeGreaterThanOrEqual(4);
      expect(c.ms).toBeLessThan(1000); // the hold was 5 s
    }
    expect(seen.full.batch).toBe(8);
  });

  it('never holds a member past its deadline (timeoutMs)', () => {
    expect(seen.deadline.batch).toBe(1);
    expect(seen.deadline.ms).toBeGreaterThanOrEqual(9);
    expect(seen.deadline.ms).toBeLessThan(1000); // the hold was 5 s
  });

  it('does not wait without a hold, and stops holding when another engine goes idle', () => {
    expect(seen.noHold).toMatchObject({ batch: 1, held: 0 });
    expect(seen.noHold.ms).toBeLessThan(20);
    expect(seen.otherIdle.ms).toBeGreaterThanOrEqual(4); // engine 1 went idle after 5 ms
    expect(seen.otherIdle.ms).toBeLessThan(150); // the hold was 200 ms
  });

  it('estimates when the device is free: behind what is queued, minus the time to launch', () => {
    // Batches of 32 rows: 0.5 ms from take to launch, 3 ms on the device (ms from the start; -1: no hold).
    expect(seen.estimate.unknown).toBe(-1);
    expect(seen.estimate.known).toBeCloseTo(23, 3);
    expect(seen.estimate.idle).toBe(-1);
    expect(seen.estimate.late).toBe(-1);
    expect(seen.estimate.queued).toBeCloseTo(26, 3);
    expect(seen.estimate.unseen).toBe(-1);
  });
});
