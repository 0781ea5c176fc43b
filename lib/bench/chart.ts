/**
 * The bench report's chart as a self-contained SVG: throughput vs concurrency (a line per batch
 * size), caller latency percentiles vs concurrency (for the largest batch), and scaling over
 * engines against the ideal line. No dependencies; opens in any browser.
 * @module
 */
import type { ConfigResult } from './load.js';
import type { ScalingRow } from './scaling.js';

interface Series {
  name: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const W = 360;
const H = 260;
const PAD = { left: 58, right: 12, top: 30, bottom: 42 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const fmt = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(0)}k` : v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v >= 10 ? v.toFixed(0) : v.toFixed(2));

/** One panel at (x0, 0): log2 x axis for concurrency/engines, linear y from 0. */
function panel(x0: number, title: string, xLabel: string, yLabel: string, series: Series[]): string {
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  if (xs.length === 0) return '';
  const [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  const yMax = Math.max(...ys) * 1.1 || 1;
  const lx = (x: number) => Math.log2(Math.max(1, x));
  const px = (x: number) => x0 + PAD.left + (xMax === xMin ? 0.5 : (lx(x) - lx(xMin)) / (lx(xMax) - lx(xMin))) * (W - PAD.left - PAD.right);
  const py = (y: number) => PAD.top + (1 - y / yMax) * (H - PAD.top - PAD.bottom);
  const out: string[] = [];
  out.push(`<text x="${x0 + W / 2}" y="16" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  out.push(`<line x1="${x0 + PAD.left}" y1="${py(0)}" x2="${x0 + W - PAD.right}" y2="${py(0)}" stroke="#333"/>`);
  out.push(`<line x1="${x0 + PAD.left}" y1="${PAD.top}" x2="${x0 + PAD.left}" y2="${py(0)}" stroke="#333"/>`);
  for (let i = 0; i <= 4; i++) {
    const y = (yMax / 1.1) * (i / 4);
    out.push(`<text x="${x0 + PAD.left - 4}" y="${py(y) + 4}" text-anchor="end" font-size="10">${fmt(y)}</text>`);
    out.push(`<line x1="${x0 + PAD.left}" y1="${py(y)}" x2="${x0 + W - PAD.right}" y2="${py(y)}" stroke="#eee"/>`);
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(`<text x="${px(x)}" y="${py(0) + 14}" text-anchor="middle" font-size="10">${x}</text>`);
  }
  out.push(`<text x="${x0 + W / 2}" y="${H - 8}" text-anchor="middle" font-size="11">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(${x0 + 12},${H / 2}) rotate(-90)" text-anchor="middle" font-size="11">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const points = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''} points="${points}"/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    out.push(`<text x="${x0 + PAD.left + 8}" y="${PAD.top + 12 + i * 13}" font-size="10" fill="${s.color}">${esc(s.name)}</text>`);
  });
  return out.join('\n');
}

export function renderChart(title: string, configs: ConfigResult[], scaling: ScalingRow[]): string {
  const batches = [...new Set(configs.map((c) => c.batch))];
  const throughput: Series[] = batches.map((b, i) => ({
    name: `batch ${b}`,
    color: COLORS[i % COLORS.length] as string,
    points: configs.filter((c) => c.batch === b).map((c) => [c.concurrency, c.itemsPerSecond] as [number, number]),
  }));
  const largest = Math.max(...batches);
  const forLargest = configs.filter((c) => c.batch === largest);
  const latency: Series[] = (['p50', 'p95', 'p99'] as const).map((q, i) => ({
    name: `${q} (batch ${largest})`,
    color: COLORS[i] as string,
    points: forLargest.map((c) => [c.concurrency, c.latencyMs[q]] as [number, number]),
  }));
  const scale: Series[] = scaling.length
    ? [
        { name: 'measured', color: COLORS[0] as string, points: scaling.map((r) => [r.engines, r.speedup] as [number, number]) },
        { name: 'ideal', color: '#999', dashed: true, points: scaling.map((r) => [r.engines, r.engines] as [number, number]) },
      ]
    : [];
  const panels = [
    panel(0, 'Throughput', 'concurrency (requests in flight)', 'items/s', throughput),
    panel(W, 'Latency (caller side)', 'concurrency', 'ms', latency),
    scale.length ? panel(2 * W, 'Scaling over engines', 'engines', 'speedup vs 1', scale) : '',
  ].filter(Boolean);
  const width = W * panels.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H + 24}" viewBox="0 0 ${width} ${H + 24}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<g transform="translate(0,18)">`,
    ...panels,
    `</g>`,
    `<text x="8" y="14" font-size="12" fill="#555">${esc(title)}</text>`,
    `</svg>`,
  ].join('\n');
}
