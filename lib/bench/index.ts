/**
 * `torchpool bench`: runs every (precision, batch, concurrency) configuration on one pool, then
 * the scaling runs, and writes report.json, report.md and report.svg.
 * @module
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listDevices, resolveDevices } from '../devices.js';
import { buildInfo } from '../info.js';
import type { Precision } from '../execution.js';
import { InferencePool } from '../pool.js';
import { renderChart } from './chart.js';
import { coldStart } from './cold-start.js';
import { type BenchModel, makeInput, resolveModel } from './inputs.js';
import { type ConfigResult, runConfig } from './load.js';
import type { BenchOptions } from './options.js';
import { type BenchReport, type ColdStartRun, renderMarkdown } from './report.js';
import { distinctDevices, engineSets, mixedDevices, scaling, unevenJob } from './scaling.js';

/** Progress on a terminal: one rewritten line; plain lines elsewhere. */
function progress(quiet: boolean) {
  const tty = process.stderr.isTTY === true;
  return {
    step(label: string, done: number, total: number) {
      if (quiet) return;
      if (tty) {
        const width = 24;
        const filled = Math.round((width * done) / total);
        process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`.padEnd(90));
      } else {
        process.stderr.write(`[${done}/${total}] ${label}\n`);
      }
    },
    end() {
      if (!quiet && tty) process.stderr.write('\n');
    },
  };
}

export async function runBench(options: BenchOptions, command: string): Promise<{ report: BenchReport; files: string[] }> {
  const devices = resolveDevices(options.devices === 'all' || options.devices === 'cpu' || options.devices === 'cuda' ? options.devices : options.devices.split(','));
  const onGpu = devices.some((d) => d.startsWith('cuda'));
  const model = await resolveModel(options.model, options.inputShape, options.dtype, onGpu);
  const skipped: string[] = [];
  const precisions = options.precisions.filter((p) => {
    if (p === 'fp16' && !onGpu) skipped.push('fp16: CPU kernels mostly lack half precision (use bf16 on CPU, fp16 on CUDA engines)');
    return p !== 'fp16' || onGpu;
  });
  const mixedSet = distinctDevices(devices);
  const total = precisions.length * options.batches.length * options.concurrencies.length + (options.scaling ? 2 : 0) + (mixedSet.length > 0 ? 1 : 0);
  const bar = progress(options.quiet);
  let step = 0;

  const open = (precision: Precision) => InferencePool.create({
    model: model.file,
    devices,
    instancesPerDevice: options.instances,
    ...(options.threads ? { threadsPerEngine: options.threads } : {}),
    batching: options.maxBatchSize > 0,
    maxBatchSize: Math.max(1, options.maxBatchSize),
    maxQueueDelayMicros: options.maxQueueDelayMicros,
    spinMicros: options.spinMicros,
    precision,
    channelsLast: options.channelsLast,
    ...(options.pipelineDepth !== undefined ? { pipelineDepth: options.pipelineDepth } : {}),
    ...(options.fillWhileBusy !== undefined ? { fillWhileBusy: options.fillWhileBusy } : {}),
    ...(options.batchBuckets !== undefined ? { batchBuckets: options.batchBuckets } : {}),
    torchscript: {
      optimizedExecution: options.optimizedExecution,
      ...(options.profilingExecutor !== undefined ? { profilingExecutor: options.profilingExecutor } : {}),
      ...(options.tensorExprFuser !== undefined ? { tensorExprFuser: options.tensorExprFuser } : {}),
    },
    cudaGraphs: options.cudaGraphs,
    // One item's shape, warmed at load at every batch bucket: no request pays for a first batch
    // size or a graph capture (the built-in `cost` model takes a second argument: not warmed).
    ...(model.extraArgs.length === 0 ? { warmup: [{ shape: [1, ...model.itemShape], dtype: model.dtype }] } : {}),
  });
  if (options.coldStart) {
    const coldStarts: ColdStartRun[] = [];
    for (const precision of precisions) {
      for (const callers of options.concurrencies) {
        bar.step(`cold start: ${precision}, ${callers} callers`, step++, precisions.length * options.concurrencies.length);
        const input = makeInput(model, options.batches[0] ?? 1);
        coldStarts.push({ precision, batch: options.batches[0] ?? 1, ...(await coldStart(() => open(precision), input, { callers, durationMs: 'ms' in options.measure ? options.measure.ms : 6000 })) });
      }
    }
    bar.end();
    return writeReport(options, { ...reportHead(options, command, model, devices), configs: [], skipped, scaling: [], uneven: undefined, coldStart: coldStarts }, []);
  }
  const configs: ConfigResult[] = [];
  let pool = await open('fp32');
  try {
    for (const precision of precisions) {
      if (precision !== 'fp32' || pool.stats().requests > 0) {
        await pool.close();
        pool = await open(precision);
      }
      for (const batch of options.batches) {
        const input = makeInput(model, batch);
        for (const concurrency of options.concurrencies) {
          bar.step(`${precision} batch ${batch} concurrency ${concurrency}`, step++, total);
          configs.push(await runConfig(pool, { precision, batch, concurrency, input }, { warmup: options.warmup, measure: options.measure }));
        }
      }
    }
  } finally {
    await pool.close();
  }

  let scalingRows: BenchReport['scaling'] = [];
  let uneven: BenchReport['uneven'];
  if (options.scaling) {
    const sets = engineSets(pool.devices as string[]);
    const batch = Math.max(...options.batches);
    // Size the job so one engine takes about the measuring budget.
    const single = configs.find((c) => c.batch === batch && c.concurrency === Math.min(...options.concurrencies));
    const perEngineRate = single ? single.requestsPerSecond / Math.max(1, pool.devices.length) : 100;
    const requests = 'requests' in options.measure ? options.measure.requests : Math.max(8, Math.round((perEngineRate * options.measure.ms) / 1000));
    bar.step('scaling over engines', step++, total);
    scalingRows = await scaling(model, sets, batch, requests);
    bar.step('uneven job: shared queue vs static split', step++, total);
    const unit = Math.max(1, Math.round(batch / 4));
    uneven = await unevenJob(model, sets.at(-1)!, unit, Math.max(8, Math.min(200, Math.round(requests / 2))));
  }
  let mixed: BenchReport['mixed'];
  if (mixedSet.length > 0) {
    bar.step(`mixed devices: ${mixedSet.join(' + ')} vs each alone`, step++, total);
    mixed = await mixedDevices(model, mixedSet, options.threads, Math.max(...options.batches), Math.max(...options.concurrencies), {
      warmup: options.warmup,
      measure: options.measure,
    });
  }
  bar.end();

  const report: BenchReport = { ...reportHead(options, command, model, [...pool.devices]), configs, skipped, scaling: scalingRows, uneven, mixed };
  return writeReport(options, report, scalingRows);
}

/** The report's date, command, machine, model and pool lines. */
function reportHead(options: BenchOptions, command: string, model: BenchModel, devices: string[]) {
  const cpu = listDevices()[0];
  const build = buildInfo();
  return {
    date: new Date().toISOString(),
    command,
    machine: {
      cpu: cpu?.name ?? os.cpus()[0]?.model ?? 'unknown',
      cores: os.availableParallelism(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      gpus: listDevices().filter((d) => d.type === 'cuda').map((d) => `${d.id} ${d.name}`),
      node: process.version,
      libtorch: `${build.torchVersion} (${build.torchOrigin}${build.cuda ? ', CUDA' : ''})`,
    },
    model: { label: model.label, inputShape: model.itemShape, dtype: model.dtype },
    pool: {
      devices, maxBatchSize: options.maxBatchSize, maxQueueDelayMicros: options.maxQueueDelayMicros, spinMicros: options.spinMicros,
      cudaGraphs: options.cudaGraphs, ...(options.fillWhileBusy !== undefined ? { fillWhileBusy: options.fillWhileBusy } : {}),
      ...(options.batchBuckets !== undefined ? { batchBuckets: options.batchBuckets } : {}),
    },
  };
}

function writeReport(options: BenchOptions, report: BenchReport, scalingRows: BenchReport['scaling']): { report: BenchReport; files: string[] } {
  fs.mkdirSync(options.out, { recursive: true });
  const files = ['report.json', 'report.md', 'report.svg'].map((f) => path.join(options.out, f));
  fs.writeFileSync(files[0]!, JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(files[1]!, renderMarkdown(report, 'report.svg') + '\n');
  fs.writeFileSync(files[2]!, renderChart(`${report.model.label}, ${report.pool.devices.join(', ')}`, report.configs, scalingRows) + '\n');
  return { report, files };
}
