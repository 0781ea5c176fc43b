// A dependency-free SVG chart of `torchpool serve --threads`: requests/s and latency p50/p99
// against HTTP threads, per request body. Used by bench/report.mjs.

const COLORS = { binary: '#1f77b4', json: '#d62728' };

function panel({ x0, y0, width, height, title, xs, series, yLabel }) {
  const maxY = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.y))) * 1.1;
  const sx = (i) => x0 + 40 + (i * (width - 60)) / Math.max(1, xs.length - 1);
  const sy = (v) => y0 + height - 30 - (v / maxY) * (height - 60);
  const out = [`<text x="${x0 + width / 2}" y="${y0 + 16}" text-anchor="middle" font-size="13" font-weight="bold">${title}</text>`];
  out.push(`<line x1="${x0 + 40}" y1="${y0 + height - 30}" x2="${x0 + width - 20}" y2="${y0 + height - 30}" stroke="#888"/>`);
  out.push(`<line x1="${x0 + 40}" y1="${y0 + 30}" x2="${x0 + 40}" y2="${y0 + height - 30}" stroke="#888"/>`);
  xs.forEach((x, i) => out.push(`<text x="${sx(i)}" y="${y0 + height - 14}" text-anchor="middle" font-size="11">${x}</text>`));
  out.push(`<text x="${x0 + width / 2}" y="${y0 + height}" text-anchor="middle" font-size="11">HTTP threads</text>`);
  for (const f of [0, 0.5, 1]) {
    const v = (maxY / 1.1) * f;
    out.push(`<text x="${x0 + 36}" y="${sy(v) + 4}" text-anchor="end" font-size="10">${v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(v < 10 ? 1 : 0)}</text>`);
  }
  out.push(`<text x="${x0 + 8}" y="${y0 + height / 2}" font-size="11" transform="rotate(-90 ${x0 + 8} ${y0 + height / 2})" text-anchor="middle">${yLabel}</text>`);
  for (const s of series) {
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${sx(xs.indexOf(p.x)).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    for (const p of s.points) out.push(`<circle cx="${sx(xs.indexOf(p.x)).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${s.color}"/>`);
  }
  return out.join('\n');
}

/** `rows`: { encoding, threads, requests_per_s, latency_p50_ms, latency_p99_ms }[]. */
export function threadsChart(title, rows) {
  const xs = [...new Set(rows.map((r) => r.threads))].sort((a, b) => a - b);
  const encodings = [...new Set(rows.map((r) => r.encoding))];
  const points = (encoding, pick) => rows.filter((r) => r.encoding === encoding).sort((a, b) => a.threads - b.threads).map((r) => ({ x: r.threads, y: pick(r) }));
  const width = 420;
  const height = 260;
  const body = [
    panel({ x0: 0, y0: 20, width, height, title: 'requests/s', xs, yLabel: 'requests/s', series: encodings.map((e) => ({ color: COLORS[e] ?? '#555', points: points(e, (r) => r.requests_per_s) })) }),
    panel({ x0: width, y0: 20, width, height, title: 'latency p50 (solid), p99 (dashed)', xs, yLabel: 'ms',
      series: encodings.flatMap((e) => [
        { color: COLORS[e] ?? '#555', points: points(e, (r) => r.latency_p50_ms) },
        { color: COLORS[e] ?? '#555', dashed: true, points: points(e, (r) => r.latency_p99_ms) },
      ]) }),
  ];
  const legend = encodings.map((e, i) => `<rect x="${20 + i * 140}" y="${height + 30}" width="12" height="12" fill="${COLORS[e] ?? '#555'}"/><text x="${36 + i * 140}" y="${height + 40}" font-size="12">${e} tensors</text>`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * width}" height="${height + 50}" viewBox="0 0 ${2 * width} ${height + 50}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width}" y="14" text-anchor="middle" font-size="13">${title}</text>`,
    ...body,
    ...legend,
    '</svg>',
  ].join('\n');
}
