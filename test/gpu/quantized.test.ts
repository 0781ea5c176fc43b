// A quantized (INT8) model on a CUDA engine: libtorch's quantized operators run on the CPU only,
// so the load is refused with a message that says so, and the same model runs on a CPU engine of
// the same machine. Skipped without CUDA or without a Python torch to make the model.
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildInfo, ErrorCodes, InferencePool, listDevices, type OutputTensor } from '../support/torchpool.js';
import { quantizedFixtures, type QuantizedFixtures, torchPython } from '../support/python-models.js';

const gpus = listDevices().filter((d) => d.type === 'cuda');
const python = torchPython();
const reason = gpus.length === 0 ? `no CUDA device (${buildInfo().cuda ? 'CUDA build' : 'CPU-only libtorch build'})` : !python ? 'no Python with torch' : '';

describe.skipIf(reason !== '')(`quantized models and CUDA engines${reason ? ` [skipped: ${reason}]` : ''}`, () => {
  let fixtures: QuantizedFixtures;
  beforeAll(() => { fixtures = quantizedFixtures(python!); });

  it.each(['mlp_int8.pt', 'conv_int8.pt'])('refuses %s on cuda:0 with MODEL_LOAD, and runs it on the CPU', async (name) => {
    const file = path.join(fixtures.dir, name);
    const error = await InferencePool.create({ model: file, devices: ['cuda:0'] }).catch((e: unknown) => e);
    expect((error as { code: string }).code).toBe(ErrorCodes.MODEL_LOAD);
    expect((error as Error).message).toMatch(/is quantized .* run on the CPU only, so it cannot run on cuda:0: serve it with devices: 'cpu'/);
    const cpu = await InferencePool.create({ model: file, devices: 'cpu', quantizedEngine: fixtures.engine });
    const e = fixtures.models[name]!;
    const out = await cpu.infer<OutputTensor>({ data: Float32Array.from(e.input), shape: e.shape });
    expect(out.shape).toEqual([e.shape[0], 10]);
    await cpu.close();
  });
});
