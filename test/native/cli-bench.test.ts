// `torchpool bench` as users run it: a real child process, a built-in model, tiny budgets.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheDir } from '../support/torchpool.js';

const cli = path.resolve(__dirname, '../../dist/cli.js');
const run = (args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, TORCHPOOL_CACHE_DIR: cacheDir } });

describe('torchpool bench', () => {
  it('measures every configuration and writes JSON, Markdown and an SVG chart', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-bench-'));
    const child = run(['bench', '--model', 'tiny', '--devices', 'cpu,cpu', '--batch', '1,4', '--concurrency', '1,8',
      '--requests', '60', '--warmup', '10', '--precision', 'fp32,fp16', '--out', out, '--json']);
    expect(child.stderr).not.toMatch(/Error/);
    expect(child.status).toBe(0);
    const report = JSON.parse(child.stdout);
    expect(report.model).toEqual({ label: 'built-in tiny', inputShape: [16], dtype: 'float32' });
    expect(report.configs.map((c: { batch: number; concurrency: number }) => [c.batch, c.concurrency])).toEqual([[1, 1], [1, 8], [4, 1], [4, 8]]);
    for (const c of report.configs) {
      expect(c.requests).toBe(60);
      expect(c.items).toBe(60 * c.batch);
      expect(c.failures).toBe(0);
      expect(c.itemsPerSecond).toBeGreaterThan(0);
      expect(c.latencyMs.p50).toBeLessThanOrEqual(c.latencyMs.p99);
      expect(c.engines).toHaveLength(2);
      expect(c.engines.reduce((n: number, e: { items: number }) => n + e.items, 0)).toBe(c.items);
      expect(c.eventLoopDelayMs.max).toBeGreaterThanOrEqual(0);
    }
    expect(report.skipped[0]).toMatch(/^fp16/);
    expect(report.scaling.map((r: { engines: number }) => r.engines).length).toBeGreaterThanOrEqual(1);
    expect(report.scaling[0].speedup).toBe(1);
    expect(report.uneven.sharedMs).toBeGreaterThan(0);
    expect(report.uneven.staticMs).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/^# torchpool bench: built-in tiny[\s\S]*## Throughput and latency[\s\S]*## Scaling over engines[\s\S]*## Uneven job/);
    const svg = fs.readFileSync(path.join(out, 'report.svg'), 'utf8');
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('<polyline');
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    fs.rmSync(out, { recursive: true });
  });

  it('prints its usage for --help and exits 2 with a clear message for a bad flag', () => {
    const help = run(['bench', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: torchpool bench \[options\]/);
    const bad = run(['bench', '--batch', '0,x']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^torchpool bench: --batch expects positive integers separated by commas, got '0,x'/);
    const unknown = run(['bench', '--model', 'no-such-model', '--requests', '1']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/--model: 'no-such-model' is neither a file nor a built-in model/);
    const both = run(['bench', '--duration', '1s', '--requests', '5']);
    expect(both.stderr).toMatch(/give either --duration or --requests, not both/);
  });
});
