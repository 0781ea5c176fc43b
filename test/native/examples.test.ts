// The README's examples are files in examples/; they must keep running as documented.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheDir } from '../support/torchpool.js';

const root = path.resolve(__dirname, '../..');
const examples = fs.readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.mjs'));

describe('examples/', () => {
  it.each(examples)('%s runs to completion', (file) => {
    const child = spawnSync(process.execPath, [path.join(root, 'examples', file)], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, TORCHPOOL_CACHE_DIR: cacheDir },
    });
    expect(child.stderr).not.toMatch(/Error/);
    expect(child.status).toBe(0);
    expect(child.stdout.length).toBeGreaterThan(0);
  });
});
