// The house rules that a reader of the tree relies on, checked: no import circles in lib/ (the
// data flow reads one way), and no source file grows past about 500 lines (split it by concern).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');

function files(dir: string, pattern: RegExp): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...files(rel, pattern));
    else if (pattern.test(entry.name)) out.push(rel);
  }
  return out;
}

describe('the layout of the tree', () => {
  it('has no import circle in lib/ (type-only imports included)', () => {
    const sources = files('lib', /\.m?ts$/);
    const edges = new Map<string, string[]>();
    for (const file of sources) {
      const text = fs.readFileSync(path.join(root, file), 'utf8');
      const targets = [...text.matchAll(/(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'/g)].map((m) =>
        path.join(path.dirname(file), m[1]!.replace(/\.m?js$/, (ext) => (ext === '.mjs' ? '.mts' : '.ts'))));
      edges.set(file, targets.filter((t) => sources.includes(t)));
    }
    const circles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, trail: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        circles.push([...trail.slice(trail.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of edges.get(file) ?? []) visit(next, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of sources) visit(file, []);
    expect(circles).toEqual([]);
  });

  it('keeps source files under about 500 lines', () => {
    const code = [...files('lib', /\.m?ts$/), ...files('native', /\.(cc|h)$/), ...files('scripts', /\.(js|mjs|sh|py|cmake)$/), ...files('bench', /\.(mjs|cjs|py|cc)$/)];
    const long = code
      .map((file) => ({ file, lines: fs.readFileSync(path.join(root, file), 'utf8').split('\n').length }))
      .filter(({ lines }) => lines > 520);
    expect(long).toEqual([]);
  });
});
