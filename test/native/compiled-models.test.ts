// Models beyond plain TorchScript, as far as libtorch 1.13 on the CPU goes: extension libraries
// that register operators (a real custom-op library built with CMake against the same libtorch),
// telling TorchScript from AOTInductor packages, the clear refusal of .pt2 where libtorch cannot
// run them, and a model that takes one row at a time turning batching off.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCustomOp, type CustomOp } from '../support/custom-op.js';
import { ErrorCodes, InferencePool, type OutputTensor, buildInfo, modelPath } from '../support/torchpool.js';
import { zip } from '../support/zip.js';
import { createServer, parseServeArgs } from '../../dist/serve/index.js';

const dist = path.resolve(__dirname, '../../dist/index.js');
const x = { data: Float32Array.from([1, 2, 3, 4]), shape: [2, 2] };
const failure = (p: Promise<unknown>) => p.then(() => ({ code: 'ok', message: '' }), (e: { code: string; message: string }) => e);

let op: CustomOp;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-compiled-'));
beforeAll(() => { op = buildCustomOp(); }, 300_000);

describe('extension libraries', () => {
  it('says which operator is missing and how to provide it', async () => {
    const error = await failure(InferencePool.create({ model: op.scaleAddModel, devices: 'cpu' }));
    expect(error.code).toBe(ErrorCodes.MODEL_LOAD);
    expect(error.message).toMatch(/calls the operator torchpool_test::scale_add, which no loaded library registers/);
    expect(error.message).toMatch(/`extensions` option/);
  });

  it('loads a custom-op library before the model, once per process', async () => {
    const pool = await InferencePool.create({ model: op.scaleAddModel, devices: 'cpu', extensions: [op.library] });
    const out = await pool.infer<OutputTensor>(x);
    expect(Array.from(out.data as Float32Array)).toEqual([3, 5, 7, 9]);
    // Again, from a relative path to the same file: already loaded, nothing happens.
    const again = await InferencePool.create({ model: op.scaleAddModel, devices: 'cpu', extensions: [path.relative(process.cwd(), op.library)] });
    expect(Array.from((await again.infer<OutputTensor>(x)).data as Float32Array)).toEqual([3, 5, 7, 9]);
    await Promise.all([pool.close(), again.close()]);
  });

  it('rejects a missing or unloadable library with EXTENSION_LOAD', async () => {
    const missing = await failure(InferencePool.create({ model: await modelPath('tiny'), devices: 'cpu', extensions: [path.join(tmp, 'nope.so')] }));
    expect(missing.code).toBe(ErrorCodes.EXTENSION_LOAD);
    expect(missing.message).toMatch(/extension not found: .*nope\.so/);
    const text = path.join(tmp, 'not-a-library.so');
    fs.writeFileSync(text, 'hello');
    const broken = await failure(InferencePool.create({ model: await modelPath('tiny'), devices: 'cpu', extensions: [text] }));
    expect(broken.code).toBe(ErrorCodes.EXTENSION_LOAD);
    expect(broken.message).toMatch(/cannot load extension .*not-a-library\.so: .*(not a shared library for this platform|file too short|invalid ELF)/);
    const bad = await failure(InferencePool.create({ model: await modelPath('tiny'), devices: 'cpu', extensions: 'lib.so' as never }));
    expect(bad.code).toBe(ErrorCodes.INVALID_ARG);
  });

  it('is loaded by torchpool serve from --extension (and the config file\'s "extensions")', async () => {
    const config = parseServeArgs(['--model', `ops=${op.scaleAddModel}`, '--extension', op.library, '--devices', 'cpu', '--host', '127.0.0.1', '--port', '0']);
    expect(config!.poolDefaults!.extensions).toEqual([op.library]);
    const file = path.join(tmp, 'serve.json');
    fs.writeFileSync(file, JSON.stringify({ extensions: [path.relative(tmp, op.library)], models: { ops: { path: op.scaleAddModel } } }));
    expect(parseServeArgs(['--config', file])!.poolDefaults!.extensions).toEqual([op.library]);
    const server = await createServer(config!);
    try {
      const url = await server.listen();
      const response = await fetch(`${url}/v2/models/ops/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', shape: [2], datatype: 'FP32', data: [1, 2] }] }) });
      expect(((await response.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data).toEqual([3, 5]);
    } finally {
      await server.shutdown();
    }
  });

  it('takes libraries from TORCHPOOL_EXTENSIONS too', () => {
    const script = `require(${JSON.stringify(dist)}).InferencePool.create({ model: ${JSON.stringify(op.scaleAddModel)}, devices: 'cpu' })
      .then((p) => p.infer({ data: new Float32Array([1]), shape: [1] }).then((o) => { console.log(o.data[0]); return p.close(); }))`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, TORCHPOOL_EXTENSIONS: op.library } });
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('3');
  });
});

describe('model formats', () => {
  const aotiPackage = (root: string, models: string[]) => zip(Object.fromEntries([
    [`${root}archive_format`, 'pt2'],
    ...models.map((m) => [`${root}data/aotinductor/${m}/c1abc.wrapper.so`, 'not really a library']),
  ]));

  it('recognises an AOTInductor package and says which libtorch it needs', async () => {
    expect(buildInfo().torchVersion).toMatch(/^1\./); // this machine's libtorch has no AOTInductor
    for (const layout of ['package/', '']) {
      const file = path.join(tmp, `${layout ? 'new' : 'old'}.pt2`);
      fs.writeFileSync(file, aotiPackage(layout, ['model']));
      const error = await failure(InferencePool.create({ model: file, devices: 'cpu' }));
      expect(error.code).toBe(ErrorCodes.MODEL_LOAD);
      expect(error.message).toMatch(/AOTInductor packages \(\.pt2\) needs libtorch 2\.6 or later.*built against libtorch 1\.13/);
    }
    // From bytes as well.
    const bytes = await failure(InferencePool.create({ model: aotiPackage('p/', ['model']), devices: 'cpu' }));
    expect(bytes.message).toMatch(/<buffer>: running AOTInductor packages/);
  });

  it('checks format and modelName', async () => {
    const tiny = await modelPath('tiny');
    const forced = await failure(InferencePool.create({ model: tiny, devices: 'cpu', format: 'aoti' }));
    expect(forced.code).toBe(ErrorCodes.MODEL_LOAD); // asked for AOTInductor: this libtorch has none
    const torchscript = await InferencePool.create({ model: tiny, devices: 'cpu', format: 'torchscript' });
    expect(torchscript.format).toBe('torchscript');
    expect(torchscript.signature.metadata).toEqual({});
    await torchscript.close();
    const named = await failure(InferencePool.create({ model: tiny, devices: 'cpu', modelName: 'other' }));
    expect(named.code).toBe(ErrorCodes.INVALID_ARG);
    expect(named.message).toMatch(/modelName picks a model inside an AOTInductor package/);
    const file = path.join(tmp, 'two.pt2');
    fs.writeFileSync(file, aotiPackage('p/', ['a', 'b']));
    const asTorchScript = await failure(InferencePool.create({ model: file, devices: 'cpu', format: 'torchscript' }));
    expect(asTorchScript.code).toBe(ErrorCodes.MODEL_LOAD);
    expect(asTorchScript.message).toMatch(/cannot load TorchScript model/);
    for (const bad of [{ format: 'onnx' }, { modelName: '' }, { modelName: 3 }]) {
      expect((await failure(InferencePool.create({ model: tiny, devices: 'cpu', ...(bad as object) }))).code).toBe(ErrorCodes.INVALID_ARG);
    }
    fs.writeFileSync(path.join(tmp, 'noise.bin'), Buffer.from('not a zip at all, just bytes'));
    expect((await failure(InferencePool.create({ model: path.join(tmp, 'noise.bin'), devices: 'cpu' }))).code).toBe(ErrorCodes.MODEL_LOAD);
  });
});

describe('a model that takes one row at a time', () => {
  it('is served: merged batches fail, their members succeed alone, and batching turns itself off', async () => {
    const pool = await InferencePool.create({ model: op.oneRowModel, devices: 'cpu', maxQueueDelayMicros: 20_000 });
    const rows = Array.from({ length: 8 }, (_, i) => pool.infer<OutputTensor>({ data: Float32Array.from([i]), shape: [1, 1] }));
    const outputs = await Promise.all(rows);
    expect(outputs.map((o) => (o.data as Float32Array)[0])).toEqual([0, 3, 6, 9, 12, 15, 18, 21]);
    const batching = pool.stats().batching;
    expect(batching.enabled).toBe(false);
    expect(batching.disabledReason).toMatch(/merged forward of \d+ requests failed \(.*one row at a time.*\) while each of them ran alone/);
    await pool.close();
  });
});
