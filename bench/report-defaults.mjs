// BENCHMARKS.md sections for issue 20, "right by default": cold start under load (CPU and GPU)
// and how CPU engines' OpenMP threads wait (bench/cold-start.mjs, bench/openmp-wait.mjs).

const ms = (v) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`);

/** The cold-start section of one suite's data file. */
export function coldStartSection(data, suite, { table }) {
  const rows = data.rows.filter((r) => !r.error);
  const out = [`## Cold start under load (${suite.toUpperCase()})`, '',
    `- Date: ${data.machine.date}; ${data.machine.gpu ? `${data.machine.gpu}; ` : ''}${data.machine.cpu}; libtorch ${data.machine.libtorch}; Node ${data.machine.node}`,
    `- Command: \`${data.command}\` (each variant is \`torchpool bench --cold-start\` in a fresh process; the commands are in the data file)`,
    `- ${data.setup}. The callers start the moment create() resolves. "First second" is the requests finished in the first second over the steady rate (the second half of the run); "worst" is the slowest request of the whole run over the steady p99. Targets: first second >= 50%, worst <= 5x.`, ''];
  out.push(table(['variant', 'callers', 'create()', 'first second / steady', 'worst / steady p99', 'steady req/s', 'steady p99', 'first-time shapes under load', 'mean batch'],
    rows.map((r) => [r.variant, r.callers, ms(r.loadMs), `${(100 * r.firstSecondFraction).toFixed(0)}%`, `${r.worstOverSteadyP99.toFixed(1)}x`, r.steady.requestsPerSecond.toFixed(0),
      ms(r.steady.p99Ms), `${r.firstShapeForwards}${r.firstShapeForwards ? ` (longest ${ms(r.firstShapeMaxMs)})` : ''}`, r.meanBatchSize.toFixed(1)])), '');
  const windows = rows[0]?.windows ?? [];
  out.push('Requests/s and the slowest request in each 500 ms window:', '');
  out.push(table(['variant', 'callers', ...windows.map((w) => `${(w.startMs / 1000).toFixed(1)} s`)],
    rows.flatMap((r) => [[r.variant, r.callers, ...r.windows.map((w) => w.requestsPerSecond.toFixed(0))], ['', 'worst', ...r.windows.map((w) => ms(w.worstMs))]])), '');
  for (const r of data.rows.filter((x) => x.error)) out.push(`- ${r.variant}: failed (${r.error})`);
  return out;
}

/** The OpenMP wait section (CPU). */
export function openMpSection(data, { table }, title = 'The JavaScript thread and OpenMP (CPU)') {
  const out = [`## ${title}`, '',
    `- Date: ${data.machine.date}; ${data.machine.cpu}; libtorch ${data.machine.libtorch}; Node ${data.machine.node}; hypervisor steal over the run ${data.machine.stealPercent.toFixed(1)}%`,
    `- Command: \`${data.machine.command}\`; ${data.requests} requests per run, median of ${data.repeats} runs, each setting in a process of its own, alternating with the raw C++ loop`,
    '- Under load: 64 callers keep one batch-1 request each in flight on the MLP (256-1024-1024-10), default threads. "Of raw, batch 64" is against the raw C++ loop at batch 64 on the same threads (run with libgomp\'s defaults); "of raw, batch 32" against it at batch 32, about the size the pool merges (one batch computes while the JS thread turns the other around), which leaves out batch-size efficiency. Ratios are taken per run. "JS per request": CPU time of the JS thread alone.',
    '- Alone: then the same pool runs one request at a time, batch 1 and batch 64 (p50): what the setting costs a lone caller.', ''];
  const us = (v) => (v === undefined ? 'n/a' : `${v.toFixed(0)} us`);
  const pct = (v) => (v === undefined ? 'n/a' : `${(100 * v).toFixed(0)}%`);
  out.push(table(['OpenMP setting', 'maxBatchSize', 'rows/s under load', 'mean batch', 'JS per request', 'raw rows/s (batch 64 / 32)', 'of raw, batch 64', 'of raw, batch 32', 'alone, batch 1', 'alone, batch 64', 'raw, batch 64'],
    data.rows.map((r) => [r.setting, r.maxBatchSize, r.rows_per_s.toFixed(0), r.mean_batch.toFixed(1), r.js_us_per_request === undefined ? 'n/a' : `${r.js_us_per_request.toFixed(1)} us`,
      `${r.raw_rows_per_s_batch64.toFixed(0)} / ${r.raw_rows_per_s_batch32 === undefined ? 'n/a' : r.raw_rows_per_s_batch32.toFixed(0)}`, pct(r.fraction_of_raw), pct(r.fraction_of_raw_batch32),
      us(r.batch1_p50_us), us(r.batch64_p50_us), us(r.raw_batch64_p50_us)])), '');
  out.push('`OMP_WAIT_POLICY=active` in the default does not make the spin longer: libgomp cuts every spin to 100 iterations once the',
    'process has more OpenMP threads than cores, unless the policy is active. One pool of this MLP rarely gets there, so the two',
    '1000 rows are alike; an INT8 MLP (many short parallel regions) did: 920 us at batch 64 in every pool after the first of a',
    'process with `GOMP_SPINCOUNT=1000` alone, 310-350 us with the default (bench/int8.mjs creates its fp32 pool first).', '',
    'The last row of each group spends the same threads as one-thread engines (a replica each): no OpenMP team, so a',
    'microsecond of JavaScript delays one engine instead of both threads of a team at its next barrier, and the other engine',
    'is the overlap. It is the better layout for throughput under many callers, at the price of a lone request running on one',
    'thread (the "alone" columns) and a second copy of the weights, so it is an option, not the default.', '');
  return out;
}

/** What one request costs the JS thread (bench/js-turnaround.mjs), with an earlier build measured the same way when there is one. */
export function jsTurnaroundSection(data, before, { table }, title = 'What a request costs the JavaScript thread (CPU)') {
  const out = [`## ${title}`, '',
    `- Date: ${data.machine.date}; ${data.machine.cpu}; libtorch ${data.machine.libtorch}; Node ${data.machine.node}; hypervisor steal over the run ${data.machine.stealPercent.toFixed(1)}%`,
    `- Command: \`${data.machine.command}\`${before ? ` and, for the earlier build, \`${before.machine.command}\`` : ''}; median of ${data.repeats} runs, each in a process of its own, alternating with the raw C++ loop at the batch size the pool merged.`,
    '- 64 callers keep one batch-1 request each in flight, default pool options. `tiny` (a 16x16 linear layer) costs almost nothing to run, so the JS thread is the limit; the MLP (256-1024-1024-10) is limited by its forward. "JS per request" is the CPU time of the JS thread alone over the run, divided by the requests. The peer, onnxruntime-node, runs the same model exported to ONNX with the same 64 requests in flight (its `run()` computes on the JS thread).', ''];
  const rowsOf = (d) => d.rows.map((r) => [d.label, r.model, r.rows_per_s.toFixed(0), r.mean_batch.toFixed(1), `${r.js_us_per_request.toFixed(2)} us`,
    r.raw_rows_per_s_at_merged_batch.toFixed(0), `${(100 * r.fraction_of_raw).toFixed(0)}%`, r.onnxruntime.error ? `n/a (${r.onnxruntime.error})` : r.onnxruntime.rows_per_s.toFixed(0),
    r.onnxruntime.error ? 'n/a' : `${(r.rows_per_s / r.onnxruntime.rows_per_s).toFixed(2)}x`]);
  out.push(table(['build', 'model', 'rows/s', 'mean batch', 'JS per request', 'raw rows/s at that batch', 'of raw', 'onnxruntime-node rows/s', 'torchpool / onnxruntime'],
    [...rowsOf(data), ...(before ? rowsOf(before) : [])]), '');
  out.push('From run to run the 2-core VM moves the MLP rows by up to 20%, the raw loop with them: compare ratios, and rows of the same date. `of raw` is tiny for the cheap models by design: there the JS thread, not the forward, sets the pace.', '');
  return out;
}
