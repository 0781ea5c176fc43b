/**
 * The bench report: the JSON written to report.json, and its rendering as Markdown (report.md,
 * also printed on a terminal).
 * @module
 */
import { type ColdStartResult, renderColdStart } from './cold-start.js';
import type { ConfigResult } from './load.js';
import type { MixedDevices, ScalingRow, UnevenJob } from './scaling.js';

export interface BenchReport {
  date: string;
  command: string;
  machine: { cpu: string; cores: number; memoryGiB: number; gpus: string[]; node: string; libtorch: string };
  model: { label: string; inputShape: number[]; dtype: string };
  pool: { devices: string[]; maxBatchSize: number; maxQueueDelayMicros: number; spinMicros: number; cudaGraphs?: boolean; fillWhileBusy?: boolean; batchBuckets?: number[] };
  configs: ConfigResult[];
  skipped: string[];
  scaling: ScalingRow[];
  uneven: UnevenJob | undefined;
  /** Set when the pool mixes devices (e.g. cuda:0 and cpu). */
  mixed?: MixedDevices | undefined;
  /** `--cold-start`: one run per precision and caller count. */
  coldStart?: ColdStartRun[];
}

/** One cold-start run of `torchpool bench --cold-start`. */
export interface ColdStartRun extends ColdStartResult {
  precision: string;
  batch: number;
}

const table = (headers: string[], rows: (string | number)[][]) =>
  [`| ${headers.join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const n0 = (v: number) => Math.round(v).toLocaleString('en-US');

export function renderMarkdown(report: BenchReport, chartFile?: string): string {
  const m = report.machine;
  const out = [
    `# torchpool bench: ${report.model.label}`,
    '',
    `- ${report.date}; \`${report.command}\``,
    `- ${m.cpu} (${m.cores} cores, ${m.memoryGiB} GiB)${m.gpus.length ? `; ${m.gpus.join(', ')}` : '; no GPU'}; Node ${m.node}; libtorch ${m.libtorch}`,
    `- Input: [batch, ${report.model.inputShape.join(', ')}] ${report.model.dtype}; engines: ${report.pool.devices.join(', ')}; ` +
      `maxBatchSize ${report.pool.maxBatchSize || 'off'}, maxQueueDelayMicros ${report.pool.maxQueueDelayMicros}, spinMicros ${report.pool.spinMicros}` +
      (report.pool.cudaGraphs ? ', CUDA graphs (bucketed, captured at load)' : '') +
      (report.pool.fillWhileBusy === false ? ', fillWhileBusy off' : report.pool.fillWhileBusy === true ? ', fillWhileBusy on' : '') +
      (report.pool.batchBuckets !== undefined ? `, batchBuckets ${report.pool.batchBuckets.length ? report.pool.batchBuckets.join(',') : 'none'}` : ''),
    '',
  ];
  if (report.coldStart) {
    for (const precision of [...new Set(report.coldStart.map((r) => r.precision))]) {
      const runs = report.coldStart.filter((r) => r.precision === precision);
      out.push(`## Cold start under load (${precision}, batch ${runs[0]?.batch ?? 1} per request)`, '', renderColdStart(runs), '');
    }
    return out.join('\n');
  }
  if (chartFile) out.push(`![throughput, latency and scaling](${chartFile})`, '');
  out.push('## Throughput and latency', '');
  out.push(
    table(
      ['precision', 'batch', 'concurrency', 'items/s', 'requests/s', 'latency p50 / p95 / p99 (ms)', 'queue p50 / p99 (ms)', 'compute p50 / p99 (ms)', 'mean batch', 'event loop p99 / max (ms)'],
      report.configs.map((c) => [
        c.precision, c.batch, c.concurrency, n0(c.itemsPerSecond), n0(c.requestsPerSecond),
        `${ms(c.latencyMs.p50)} / ${ms(c.latencyMs.p95)} / ${ms(c.latencyMs.p99)}`,
        `${ms(c.queueMs.p50)} / ${ms(c.queueMs.p99)}`, `${ms(c.computeMs.p50)} / ${ms(c.computeMs.p99)}`, c.meanBatchSize.toFixed(1),
        `${ms(c.eventLoopDelayMs.p99)} / ${ms(c.eventLoopDelayMs.max)}`,
      ]),
    ),
    '',
  );
  const last = report.configs.at(-1);
  if (last && last.engines.length > 1) {
    out.push(`Per engine at batch ${last.batch}, concurrency ${last.concurrency}:`, '');
    out.push(table(['engine', 'device', 'items', 'utilization'], last.engines.map((e, i) => [i, `${e.device}#${e.instance}`, n0(e.items), `${(100 * e.utilization).toFixed(0)}%`])), '');
  }
  for (const s of report.skipped) out.push(`- Skipped: ${s}`);
  if (report.skipped.length) out.push('');
  if (report.scaling.length) {
    out.push('## Scaling over engines', '');
    out.push(
      table(
        ['engines', 'devices', 'time (ms)', 'items/s', 'speedup', 'efficiency'],
        report.scaling.map((r) => [r.engines, r.devices.join(', '), ms(r.ms), n0(r.itemsPerSecond), `${r.speedup.toFixed(2)}x`, `${(100 * r.efficiency).toFixed(0)}%`]),
      ),
      '',
    );
  }
  const x = report.mixed;
  if (x) {
    const fastest = Math.max(...x.alone.map((a) => a.itemsPerSecond));
    out.push(`## Mixed devices: one queue over engines of different speed (batch ${x.batch}, concurrency ${x.concurrency})`, '');
    out.push(
      table(['devices', 'items/s', 'vs fastest alone'], [
        ...x.alone.map((a) => [`${a.device} alone`, n0(a.itemsPerSecond), `${(a.itemsPerSecond / fastest).toFixed(2)}x`]),
        [`${x.together.engines.map((e) => e.device).join(' + ')} (one queue)`, n0(x.together.itemsPerSecond), `${(x.together.itemsPerSecond / fastest).toFixed(2)}x`],
      ]),
      '',
      table(['engine', 'device', 'requests', 'share of the work'], x.together.engines.map((e, i) => [i, e.device, n0(e.requests), `${(100 * e.share).toFixed(1)}%`])),
      '',
    );
  }
  const u = report.uneven;
  if (u) {
    out.push(`## Uneven job: ${u.items} requests of ${u.rowsRange[0]} to ${u.rowsRange[1]} rows (ascending) on ${u.engines} engines`, '');
    out.push(
      table(['schedule', 'time (ms)', 'vs ideal'], [
        ['ideal (compute / engines)', ms(u.idealMs), '1.00x'],
        ['shared queue (torchpool)', ms(u.sharedMs), `${(u.sharedMs / u.idealMs).toFixed(2)}x`],
        ['static equal split (contiguous blocks)', ms(u.staticMs), `${(u.staticMs / u.idealMs).toFixed(2)}x`],
      ]),
      '',
    );
  }
  return out.join('\n');
}
