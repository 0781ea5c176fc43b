// "Where the time goes": a request's median time per stage (stats().latency.stages) for the
// latency rows of bench/run.mjs, so a slow part of the path shows by name.
const STAGES = [
  ['queueMs', 'queue'], ['stagingMs', 'staging'], ['launchMs', 'launch'], ['deviceMs', 'device (forward)'],
  ['collectMs', 'collect'], ['wakeMs', 'wake JS'], ['settleMs', 'settle'],
];

export function stagesSection(rows, { us, table }) {
  const measured = rows.filter((r) => r.stages_p50_us && Object.keys(r.stages_p50_us).length > 0);
  if (measured.length === 0) return [];
  // forwardMs (the forward call within launch) exists in data measured since it was added.
  const stages = measured.every((r) => r.stages_p50_us.forwardMs !== undefined)
    ? [...STAGES.slice(0, 3), ['forwardMs', 'of which forward call'], ...STAGES.slice(3)] : STAGES;
  return ['', '#### Where the time goes (p50 of each stage, from `stats().latency.stages`)', '',
    table(['Model and input', ...stages.map(([, label]) => label), 'torchpool p50'],
      measured.map((r) => [r.name, ...stages.map(([key]) => us(r.stages_p50_us[key])), us(r.torchpool_p50_us)])),
    '', 'Each stage is its own median, so they need not add up to the total. "queue" is waiting for an',
    'engine thread to take the request; "wake JS" is the hand-back through the event loop; on a CPU engine',
    'the forward is all "device" time and staging, launch and collect are zero.'];
}
