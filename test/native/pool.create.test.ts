import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes, InferencePool, type OutputTensor, TorchpoolError, buildInfo, listDevices, modelPath,
} from '../support/torchpool.js';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-test-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

async function createError(options: unknown): Promise<TorchpoolError> {
  const error = await InferencePool.create(options as never).then(
    async (pool) => { await pool.close(); return undefined; },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TorchpoolError);
  return error as TorchpoolError;
}

describe('InferencePool.create', () => {
  it('loads from a path and from a Buffer with the same results', async () => {
    const file = await modelPath('tiny');
    const fromPath = await InferencePool.create({ model: file, devices: 'cpu' });
    const fromBuffer = await InferencePool.create({ model: fs.readFileSync(file), devices: 'cpu' });
    const x = { data: new Float32Array(16).fill(0.5), shape: [1, 16] };
    const [a, b] = await Promise.all([fromPath.infer<OutputTensor>(x), fromBuffer.infer<OutputTensor>(x)]);
    expect(b.data).toEqual(a.data);
    expect(fromPath.devices).toEqual(['cpu']);
    await Promise.all([fromPath.close(), fromBuffer.close()]);
  });

  it("creates one engine per listed device and defaults 'all' to the CPU without a GPU", async () => {
    const file = await modelPath('tiny');
    const two = await InferencePool.create({ model: file, devices: ['cpu', 'cpu'], threadsPerEngine: 1 });
    expect(two.stats().engines.map((e) => [e.device, e.threads])).toEqual([['cpu', 1], ['cpu', 1]]);
    await two.close();
    if (!listDevices().some((d) => d.type === 'cuda')) {
      const all = await InferencePool.create({ model: file });
      expect(all.devices).toEqual(['cpu']);
      expect(all.stats().engines[0]!.threads).toBe(os.availableParallelism());
      await all.close();
    }
  });

  it('rejects a missing file with MODEL_LOAD naming the path', async () => {
    const missing = path.join(scratch, 'nope.pt');
    const error = await createError({ model: missing, devices: 'cpu' });
    expect(error.code).toBe(ErrorCodes.MODEL_LOAD);
    expect(error.message).toContain(`model file not found: ${missing}`);
  });

  it('rejects an unreadable path (a directory) with MODEL_LOAD', async () => {
    const error = await createError({ model: scratch, devices: 'cpu' });
    expect(error.code).toBe(ErrorCodes.MODEL_LOAD);
    expect(error.message).toContain(scratch);
  });

  it('rejects a truncated TorchScript file with MODEL_LOAD and a hint', async () => {
    const bytes = fs.readFileSync(await modelPath('mlp'));
    const truncated = path.join(scratch, 'truncated.pt');
    fs.writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));
    const error = await createError({ model: truncated, devices: 'cpu' });
    expect(error.code).toBe(ErrorCodes.MODEL_LOAD);
    expect(error.message).toMatch(/cannot load TorchScript model from .*truncated\.pt/);
    expect(error.message).toMatch(/truncated|torch\.jit\.save/);
  });

  it('rejects files that are not TorchScript, and empty files', async () => {
    const text = path.join(scratch, 'model.json');
    fs.writeFileSync(text, JSON.stringify({ hello: 'world' }));
    const empty = path.join(scratch, 'empty.pt');
    fs.writeFileSync(empty, '');
    for (const [file, pattern] of [[text, /cannot load TorchScript model/], [empty, /empty/]] as const) {
      const error = await createError({ model: file, devices: 'cpu' });
      expect(error.code).toBe(ErrorCodes.MODEL_LOAD);
      expect(error.message).toMatch(pattern);
    }
    const error = await createError({ model: Buffer.from('not a model'), devices: 'cpu' });
    expect(error.code).toBe(ErrorCodes.MODEL_LOAD);
    expect(error.message).toContain('<buffer>');
  });

  it.each([
    ['options that are not an object', 42, /options/],
    ['a model that is neither path nor bytes', { model: 42 }, /Expected a file path or the bytes .* options\.model but received 42 of type number/],
    ['a zero threadsPerEngine', { model: 'x.pt', threadsPerEngine: 0 }, /options\.threadsPerEngine.*0 of type number/],
    ['a non-boolean optimize', { model: 'x.pt', optimize: 'yes' }, /options\.optimize.*'yes'/],
    ['an unknown device selection', { model: 'x.pt', devices: 'gpu' }, /options\.devices/],
    ['a malformed device in a list', { model: 'x.pt', devices: ['cpu', 'tpu:0'] }, /options\.devices\[1\].*'tpu:0'/],
    ['an empty device list', { model: 'x.pt', devices: [] }, /options\.devices/],
  ])('rejects %s with INVALID_ARG', async (_name, options, message) => {
    const error = await createError(options);
    expect(error.code).toBe(ErrorCodes.INVALID_ARG);
    expect(error.message).toMatch(message);
  });

  it('rejects CUDA devices that do not exist with NO_DEVICE', async () => {
    const cudaCount = listDevices().filter((d) => d.type === 'cuda').length;
    const error = await createError({ model: await modelPath('tiny'), devices: [`cuda:${cudaCount}`] });
    expect(error.code).toBe(ErrorCodes.NO_DEVICE);
    expect(error.message).toContain(`cuda:${cudaCount}`);
    if (cudaCount === 0) {
      const all = await createError({ model: await modelPath('tiny'), devices: 'cuda' });
      expect(all.code).toBe(ErrorCodes.NO_DEVICE);
    }
  });
});

describe('listDevices and buildInfo', () => {
  it('lists the CPU first, with memory and cores, and never throws without a GPU', () => {
    const devices = listDevices();
    expect(devices[0]).toMatchObject({ id: 'cpu', type: 'cpu', index: 0, computeCapability: null });
    expect(devices[0]!.totalMemory).toBeGreaterThan(0);
    expect(devices[0]!.cores).toBe(os.availableParallelism());
    for (const d of devices.slice(1)) {
      expect(d.id).toBe(`cuda:${d.index}`);
      expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
    }
  });

  it('reports the libtorch it was built against', () => {
    const info = buildInfo();
    expect(info.torchVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(typeof info.cuda).toBe('boolean');
    expect(info.torchOrigin.length).toBeGreaterThan(0);
  });
});
