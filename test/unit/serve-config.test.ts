// `torchpool serve` configuration is closed like every options object: an unknown flag, config
// file key or pool option is an INVALID_ARG usage error that names the closest valid one. And the
// HTTP/gRPC thread count defaults to `auto`.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServeArgs, ServeUsageError } from '../../dist/serve/index.js';
import { autoThreads } from '../../dist/serve/config.js';

function withConfig(config: unknown, extra: string[] = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-serve-config-'));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  try {
    return parseServeArgs(['--config', file, ...extra]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function usageError(run: () => unknown): ServeUsageError {
  try {
    run();
  } catch (error) {
    if (error instanceof ServeUsageError) return error;
    throw error;
  }
  throw new Error('expected a usage error');
}

describe('serve configuration', () => {
  it('refuses an unknown flag and suggests the closest', () => {
    const error = usageError(() => parseServeArgs(['--model', 'mlp=mlp', '--treads', '4']));
    expect(error.code).toBe('ERR_TORCHPOOL_INVALID_ARG');
    expect(error.message).toBe("unknown option '--treads' (did you mean '--threads'?)");
  });

  it.each([
    [{ models: { m: { path: 'mlp' } }, thread: 2 }, /unknown option 'thread' \(did you mean 'threads'\?\)/],
    [{ models: { m: { path: 'mlp' } }, limits: { maxBodyByte: 1 } }, /limits: unknown option 'maxBodyByte' \(did you mean 'maxBodyBytes'\?\)/],
    [{ models: { m: { path: 'mlp', pol: {} } } }, /models\.m: unknown option 'pol' \(did you mean 'pool'\?\)/],
    [{ models: { m: { path: 'mlp', pool: { maxBatchSzie: 8 } } } }, /models\.m\.pool: unknown option 'maxBatchSzie' \(did you mean 'maxBatchSize'\?\)/],
    [{ models: { m: { path: 'mlp', image: { topk: 3 } } } }, /models\.m\.image: unknown option 'topk' \(did you mean 'topK'\?\)/],
  ])('refuses %j in the config file', (config, message) => {
    const error = usageError(() => withConfig(config));
    expect(error.code).toBe('ERR_TORCHPOOL_INVALID_ARG');
    expect(error.message).toMatch(message);
  });

  it('takes the pool options of a model in the config file', () => {
    const config = withConfig({ models: { m: { path: 'mlp', pool: { maxBatchSize: 8, batchBuckets: [1, 8], torchscript: { optimizedExecution: false } } } } })!;
    expect(config.models[0]!.pool).toMatchObject({ maxBatchSize: 8, batchBuckets: [1, 8] });
  });

  it('sizes --threads auto from the cores (half, at most 8), and makes it the default', () => {
    expect([1, 2, 4, 8, 16, 64].map((cores) => autoThreads(cores))).toEqual([1, 1, 2, 4, 8, 8]);
    expect(parseServeArgs(['--model', 'mlp=mlp'])!.threads).toBe(autoThreads());
    expect(parseServeArgs(['--model', 'mlp=mlp', '--threads', 'auto'])!.threads).toBe(autoThreads());
    expect(parseServeArgs(['--model', 'mlp=mlp', '--threads', '3'])!.threads).toBe(3);
    expect(withConfig({ models: { m: { path: 'mlp' } }, threads: 'auto' })!.threads).toBe(autoThreads());
    expect(usageError(() => parseServeArgs(['--model', 'mlp=mlp', '--threads', 'many'])).message).toMatch(/--threads expects an integer >= 1, got 'many'/);
  });
});
