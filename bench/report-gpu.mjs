// The GPU section of BENCHMARKS.md, from bench/data/gpu.json (bench/gpu.mjs).
import { stagesSection } from './report-stages.mjs';

export function gpuSection(gpu, { us, ratio, table, machine }) {
  const out = ['## GPU', '', machine(gpu.machine), '',
    'CUDA engine: own compute and copy streams per engine, inputs staged through pinned memory and copied',
    'asynchronously, two batches in flight per engine (`pipelineDepth: 2`). The raw C++ loop copies from',
    'pageable memory on the default stream, one request after the other; PyTorch eager is the torchvision',
    'model called in Python, what a user would otherwise run.', '',
    '### ResNet-50 (224x224), one request at a time', ''];
  out.push(table(
    ['Precision', 'Batch', 'torchpool p50', 'torchpool p99', 'raw C++ p50', 'Python TorchScript p50', 'Python eager p50', 'raw / torchpool', 'torchpool / Python eager', 'images/s (torchpool)'],
    gpu.resnet.map((r) => [r.precision, r.batch, us(r.torchpool_p50_us), us(r.torchpool_p99_us), us(r.raw_p50_us), us(r.python_jit_p50_us), us(r.python_eager_p50_us),
      `${((100 * r.raw_p50_us) / r.torchpool_p50_us).toFixed(0)}%`, ratio(r.torchpool_p50_us, r.python_eager_p50_us), r.images_per_s.toFixed(0)]),
  ));
  if (gpu.graphs) {
    out.push('', '### ResNet-50 at batch 1: CUDA graphs', '');
    const base = (p) => gpu.graphs.find((g) => g.precision === p && !g.cudaGraphs);
    out.push(table(['Precision', 'cudaGraphs', 'p50', 'p99', 'graphs captured', 'replays', 'p50 vs eager'],
      gpu.graphs.map((g) => [g.precision, g.cudaGraphs, us(g.p50_us), us(g.p99_us), g.captured, g.replays, ratio(g.p50_us, base(g.precision)?.p50_us)])));
  }
  if (gpu.transfer) {
    out.push('', '### Host to device through torchpool\'s staging (64 MiB input, `batch_sum` model)', '');
    out.push(table(['Path', 'compute p50 (copy in + tiny forward)', 'GB/s'],
      gpu.transfer.map((t) => [t.path, `${t.compute_p50_ms.toFixed(2)} ms`, t.gb_per_s.toFixed(1)])));
  }
  out.push('', '### Throughput, 4 requests of ResNet-50 batch 32 (fp32) in flight', '');
  out.push(table(['Engines', 'pipelineDepth', 'images/s', 'requests/s', 'batches overlapped', 'vs 1 engine, depth 1'],
    gpu.throughput.map((r) => [r.engines, r.pipelineDepth ?? 1, r.items_per_s.toFixed(0), r.requests_per_s.toFixed(1), r.overlapped ?? 'n/a', ratio(r.items_per_s, gpu.throughput[0].items_per_s)])));
  if (gpu.graphBatching) {
    out.push('', '### CUDA graphs under dynamic batching: ResNet-50 fp16, concurrent batch-1 callers', '');
    const base = (c) => gpu.graphBatching.find((g) => g.concurrency === c && !g.cudaGraphs);
    out.push(table(['Callers', 'cudaGraphs (bucketed)', 'requests/s', 'vs eager batching', 'p50', 'p99', 'mean batch', 'padded rows', 'eager fallbacks'],
      gpu.graphBatching.map((g) => [g.concurrency, g.cudaGraphs, g.requests_per_s.toFixed(0), ratio(g.requests_per_s, base(g.concurrency)?.requests_per_s),
        `${g.p50_ms.toFixed(2)} ms`, `${g.p99_ms.toFixed(2)} ms`, g.mean_batch.toFixed(1), g.padded_rows ?? 0,
        Object.entries(g.eager_fallbacks ?? {}).map(([k, v]) => `${k}: ${v}`).join('; ') || 'none'])));
  }
  if (gpu.engineScaling) {
    out.push('', '### One and two engines on one GPU: MLP, 64 concurrent batch-1 callers', '');
    out.push(table(['Engines', 'items/s', 'vs 1 engine', 'p99', 'mean batch'],
      gpu.engineScaling.map((r) => [r.engines, r.items_per_s.toFixed(0), ratio(r.items_per_s, gpu.engineScaling[0].items_per_s), `${r.p99_ms.toFixed(2)} ms`, r.mean_batch.toFixed(1)])));
  }
  out.push('', '### Overhead over the raw C++ loop: tiny model, and staged vs allocInput inputs', '');
  out.push(table(['Model and input', 'torchpool p50', 'raw C++ p50', 'torchpool / raw', 'overhead per call'],
    gpu.latency.map((r) => [r.name, us(r.torchpool_p50_us), us(r.raw_p50_us), ratio(r.torchpool_p50_us, r.raw_p50_us), us(r.overhead_us)])));
  out.push(...stagesSection([...gpu.latency, ...gpu.resnet.filter((r) => r.batch <= 8)], { us, table }));
  out.push('');
  return out;
}

/** The heading of a section made from one standalone GPU bench's data file (machine, command, setup). */
function runHeader(title, data) {
  return [`### ${title}`, '',
    `- Date: ${data.machine.date}; ${data.machine.gpu}; ${data.machine.cpu}; libtorch ${data.machine.libtorch}; Node ${data.machine.node}`,
    `- Command: \`${data.command}\`; ${data.setup}.`, ''];
}

/** bench/data/gpu-latency.json (bench/gpu-latency.mjs): what each latency knob buys against raw. */
export function latencyKnobsSection(data, { us, table }) {
  const out = runHeader('One request at a time: what each option buys against the raw C++ loop', data);
  // Measured since forwardMs was added: the forward call alone, ours (engine thread) and raw's.
  const forward = data.rows.every((r) => r.stages_p50_us.forwardMs !== undefined && Number.isFinite(r.raw_forward_p50_us));
  out.push(table(['Model, shape', 'Options', 'torchpool p50', 'raw C++ p50', 'overhead', 'raw / torchpool', 'launch stage p50',
    ...(forward ? ['of which forward call', 'raw forward call'] : []), 'device stage p50'],
    data.rows.map((r) => [`${r.model} [${r.shape.join(', ')}]`, r.config, us(r.torchpool_p50_us), us(r.raw_p50_us), us(r.overhead_us),
      `${(100 * r.raw_vs_torchpool).toFixed(0)}%`, us(r.stages_p50_us.launchMs),
      ...(forward ? [us(r.stages_p50_us.forwardMs), us(r.raw_forward_p50_us)] : []), us(r.stages_p50_us.deviceMs)])));
  out.push('');
  return out;
}

/** bench/data/gpu-batching.json (bench/gpu-batching.mjs): graphs under dynamic batching, fillWhileBusy off and on. */
export function batchingSection(data, { ratio, table }) {
  const out = runHeader('Graphs under load: fillWhileBusy and allocInput (ResNet-50 fp16, concurrent batch-1 callers)', data);
  const base = (c) => data.rows.find((r) => r.concurrency === c && r.config === 'eager batching');
  out.push(table(['Callers', 'Configuration', 'requests/s', 'vs eager batching', 'p50', 'p99', 'mean batch', 'batches held', 'padded rows'],
    data.rows.map((r) => [r.concurrency, r.config, r.requests_per_s.toFixed(0), ratio(r.requests_per_s, base(r.concurrency)?.requests_per_s),
      `${r.p50_ms.toFixed(2)} ms`, `${r.p99_ms.toFixed(2)} ms`, r.mean_batch.toFixed(1), r.held_batches, r.padded_rows])));
  out.push('', '"batches held": batches that kept filling past maxQueueDelayMicros because the previous batch was still on',
    'the GPU (`stats().engines[i].heldBatches`).', '');
  if (data.engineScaling) {
    out.push('One and two engines on the GPU, MLP, 64 concurrent batch-1 callers (same run):', '');
    out.push(table(['Engines', 'items/s', 'vs 1 engine', 'p99', 'mean batch'],
      data.engineScaling.map((r) => [r.engines, r.items_per_s.toFixed(0), ratio(r.items_per_s, data.engineScaling[0].items_per_s), `${r.p99_ms.toFixed(2)} ms`, r.mean_batch.toFixed(1)])));
    out.push('');
  }
  return out;
}

/** `torchpool bench --devices cuda:0,cpu` before and after the default CPU threads left cores to the GPU engine. */
export function mixedSection(before, after, { table }) {
  const rows = (label, r) => [
    [label, `${r.mixed.alone[0].device} alone`, Math.round(r.mixed.alone[0].itemsPerSecond), '1.00x', ''],
    [label, `${r.mixed.alone[1].device} alone`, Math.round(r.mixed.alone[1].itemsPerSecond), `${(r.mixed.alone[1].itemsPerSecond / r.mixed.alone[0].itemsPerSecond).toFixed(2)}x`, ''],
    [label, 'both, one queue', Math.round(r.mixed.together.itemsPerSecond), `${(r.mixed.together.itemsPerSecond / r.mixed.alone[0].itemsPerSecond).toFixed(2)}x`,
      r.mixed.together.engines.map((e) => `${e.device} ${(100 * e.share).toFixed(1)}%`).join(', ')],
  ];
  const out = ['## Mixed devices on the GPU machine: cuda:0 and the CPU behind one queue', '',
    `- Date: ${after.date.slice(0, 10)}; ${after.machine.gpus.join(', ')}; ${after.machine.cpu} (${after.machine.cores} cores); libtorch ${after.machine.libtorch}`,
    `- Command: \`${after.command.replace(/^torchpool/, 'npx torchpool')}\` (MLP, batch ${after.mixed.batch}, ${after.mixed.concurrency} requests in flight).`,
    '- Before: the CPU engine took all 16 cores by default, and the GPU engine\'s launch and completion threads',
    '  starved (GPU engine 63% busy). After: in a pool with CUDA engines the default CPU threads leave two cores per',
    '  CUDA engine and one for the JS thread (13 of 16 here).', ''];
  out.push(table(['Run', 'Engines', 'items/s', 'vs cuda:0 alone', 'share of the requests'], [...rows('before', before), ...rows('after', after)]));
  out.push('', `Full report: [bench/data/cli-mixed/report.md](bench/data/cli-mixed/report.md).`, '');
  return out;
}
