// BENCHMARKS.md sections for issues 22 and 23: INT8 models, outputs into the caller's memory, and
// requests of different lengths (bench/int8.mjs, bench/output-buffers.mjs, bench/padding.mjs).

const machineLine = (m) => `- Date: ${m.date}; ${m.gpu ? `${m.gpu}; ` : ''}${m.cpu}; libtorch ${m.libtorch}; Node ${m.node}`;
const pct = (v) => `${(100 * v).toFixed(0)}%`;

/** INT8 against fp32 (CPU). */
export function int8Section(data, { us, ratio, table }) {
  const out = ['## INT8 against fp32 (CPU)', '', machineLine(data.machine),
    `- Command: \`${data.command}\`; ${data.setup}.`,
    '- The models are test/fixtures/quantized/make_models.py: the MLP 256-1024-1024-10 with its Linear layers dynamically quantized, and a small conv net statically quantized, each beside its fp32 original.', ''];
  out.push(table(['model', 'batch', 'fp32 torchpool p50', 'int8 torchpool p50', 'int8 speed-up (torchpool)', 'fp32 raw p50', 'int8 raw p50', 'int8 speed-up (raw)', 'int8 torchpool / raw', 'largest error vs fp32 (relative)', 'vs PyTorch int8'],
    data.rows.map((r) => [r.model, r.batch, us(r.fp32_torchpool_p50_us), us(r.int8_torchpool_p50_us), `${r.int8_speedup.toFixed(2)}x`, us(r.fp32_raw_p50_us), us(r.int8_raw_p50_us),
      `${r.raw_int8_speedup.toFixed(2)}x`, ratio(r.int8_torchpool_p50_us, r.int8_raw_p50_us), `${r.max_abs_error_vs_fp32.toExponential(1)} (${pct(r.max_relative_error_vs_fp32)})`,
      r.max_abs_diff_vs_pytorch_int8 === 0 ? 'identical' : r.max_abs_diff_vs_pytorch_int8.toExponential(1)])), '');
  return out;
}

/** A new output array per request against one reused array (`infer(x, { output })`). */
export function outputBuffersSection(data, { table }) {
  const row = (name, r) => [name, r.requests_per_s.toFixed(0), r.gcs, `${r.gc_ms.toFixed(1)} ms`, `${r.peak_array_buffers_mib.toFixed(1)} MiB`];
  return ['## Outputs into your own memory (CPU)', '', machineLine(data.machine), `- Command: \`${data.command}\`; ${data.setup}.`, '',
    table(['outputs', 'requests/s', 'garbage collections', 'time in GC', 'peak ArrayBuffer memory'],
      [row('a new array per request (default)', data.new), row('one array reused (`output`)', data.reuse)]), '',
    `With one array reused the process ran ${(data.new.gcs / Math.max(1, data.reuse.gcs)).toFixed(0)}x fewer garbage collections and paused ${(data.new.gc_ms / Math.max(0.1, data.reuse.gc_ms)).toFixed(0)}x less in them,`,
    `at ${(data.reuse.requests_per_s / data.new.requests_per_s).toFixed(2)}x the requests/s: the output is copied into the array on the engine thread, where a new`,
    'array per request is a fresh allocation the JS heap must later collect. Fewer pauses is what a latency-critical service feels as tail latency.', ''];
}

/** Requests of different lengths: padding against one request per forward, raw, and Python. */
export function paddingSection(data, { table }) {
  const out = [`## Requests of different lengths (${data.machine.gpu ? 'GPU' : 'CPU'})`, '', machineLine(data.machine),
    `- Command: \`${data.command}\`; ${data.setup}.`,
    '- "raw" is the raw C++ loop at the batch and padded length the pool formed on average (with torchpool\'s OpenMP settings, and with libgomp\'s own), the median of 3 processes: the machine\'s limit for that work.', ''];
  out.push(table(['variant', 'requests/s', 'p50', 'p99', 'mean batch', 'padding', 'raw requests/s at that batch x length', 'of raw', 'raw with libgomp defaults'],
    data.rows.map((r) => [r.variant, r.requests_per_s.toFixed(0), `${r.p50_ms.toFixed(1)} ms`, `${r.p99_ms.toFixed(1)} ms`, r.mean_batch.toFixed(1), pct(r.padding_fraction),
      `${r.raw_requests_per_s.toFixed(0)} (${r.raw_batch} x ${r.raw_length})`, pct(r.fraction_of_raw), r.raw_libgomp_defaults_requests_per_s?.toFixed(0) ?? 'n/a'])), '');
  if (data.rows.some((r) => r.fraction_of_raw > 1.1)) {
    out.push('"Of raw" above 100% is not torchpool beating libtorch: on the 2-core VMs this encoder runs a batch of 32 x 126 in',
      'about 12 ms in one process and about 23 ms in the next, with the same binary, input and settings (measured by hand,',
      '2026-12-04; at 1 thread it is a steady 32-35 ms), and the median of three raw processes landed on the slow side here.',
      'Compare the torchpool rows with each other, and with Python run the same way.', '');
  }
  const py = data.python_requests_per_s ?? {};
  const best = Math.max(...data.rows.map((r) => r.requests_per_s));
  out.push(table(['PyTorch in Python, in-process, same lengths', 'requests/s', 'best torchpool variant / Python'],
    Object.entries(py).map(([name, v]) => [name, v ? v.toFixed(0) : 'n/a', v ? `${(best / v).toFixed(2)}x` : 'n/a'])), '');
  return out;
}
