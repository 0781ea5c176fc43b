// torchpool serve, Open Inference Protocol v2: a real server on loopback, real HTTP requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferencePool, type OutputTensor, costInput, maxRelativeError, modelPath, randomFloats } from '../support/torchpool.js';
import { binaryRequest, jsonInput, post, type Running, splitBinaryResponse, startServer } from '../support/serve.js';

describe('torchpool serve: v2 protocol', () => {
  let s: Running;
  let reference: InferencePool;
  beforeAll(async () => {
    s = await startServer([
      { name: 'mlp', path: 'mlp' },
      { name: 'echo', path: await modelPath('identity'), version: '3' }, // undeclared input: any datatype
      { name: 'pair', path: 'tuple_out', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, -1] }] },
      { name: 'strict', path: 'raises' },
      { name: 'named', path: 'dict_out', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 8] }] },
      { name: 'slow', path: 'cost', constants: { iters: 40_000 }, pool: { maxQueueSize: 1, batching: false, threadsPerEngine: 1 } },
    ]);
    reference = await InferencePool.create({ model: await modelPath('mlp'), devices: 'cpu' });
  });
  afterAll(async () => {
    await s.server.shutdown();
    await reference.close();
  });

  it('answers health, server metadata and model metadata', async () => {
    expect(await (await fetch(`${s.url}/v2/health/live`)).json()).toEqual({ live: true });
    const ready = await fetch(`${s.url}/v2/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true });
    const server = await (await fetch(`${s.url}/v2`)).json();
    expect(server).toMatchObject({ name: 'torchpool', extensions: ['binary_tensor_data', 'model_repository'] });
    const mlp = await (await fetch(`${s.url}/v2/models/mlp`)).json();
    expect(mlp).toMatchObject({ name: 'mlp', versions: ['1'], inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 256] }], outputs: [{ name: 'output__0', datatype: 'FP32', shape: [-1, 10] }] });
    const pair = (await (await fetch(`${s.url}/v2/models/pair/versions/1`)).json()) as { outputs: { name: string }[] };
    expect(pair.outputs.map((o: { name: string }) => o.name)).toEqual(['output__0', 'output__1']);
    const named = (await (await fetch(`${s.url}/v2/models/named`)).json()) as { outputs: { name: string }[] };
    expect(named.outputs.map((o: { name: string }) => o.name).sort()).toEqual(['double', 'negated']);
    expect((await fetch(`${s.url}/v2/models/echo/versions/3/ready`)).status).toBe(200);
    expect(await (await fetch(`${s.url}/v2/models/echo/ready`)).json()).toEqual({ name: 'echo', ready: true });
  });

  it('answers 404 with an error body for unknown models, versions and routes', async () => {
    for (const path of ['/v2/models/nope', '/v2/models/mlp/versions/9', '/v2/models/nope/ready', '/v3']) {
      const response = await fetch(`${s.url}${path}`);
      expect(response.status, path).toBe(404);
      expect(((await response.json()) as { error: string }).error, path).toEqual(expect.any(String));
    }
    expect((await post(`${s.url}/v2/models/nope/infer`, { inputs: [] })).status).toBe(404);
  });

  it('infers with JSON tensors, nested or flat, and matches the pool', async () => {
    const x = randomFloats(2 * 256, 7);
    const expected = (await reference.infer<OutputTensor>({ data: x, shape: [2, 256] })).data as Float32Array;
    const flat = await post(`${s.url}/v2/models/mlp/infer`, { id: 'r1', inputs: [jsonInput('x', [2, 256], 'FP32', Array.from(x))] });
    expect(flat.status).toBe(200);
    const body = flat.json();
    expect(body).toMatchObject({ model_name: 'mlp', model_version: '1', id: 'r1', outputs: [{ name: 'output__0', datatype: 'FP32', shape: [2, 10] }] });
    expect(maxRelativeError(body.outputs[0].data, expected)).toBeLessThan(1e-6);
    const nested = await post(`${s.url}/v2/models/mlp/versions/1/infer`, { inputs: [jsonInput('x', [2, 256], 'FP32', [Array.from(x.subarray(0, 256)), Array.from(x.subarray(256))])] });
    expect(maxRelativeError(nested.json().outputs[0].data, expected)).toBeLessThan(1e-6);
  });

  it('takes binary inputs and returns binary outputs (binary tensor data extension)', async () => {
    const x = randomFloats(3 * 256, 8);
    const expected = (await reference.infer<OutputTensor>({ data: x, shape: [3, 256] })).data as Float32Array;
    const request = binaryRequest(
      { inputs: [{ name: 'x', shape: [3, 256], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }], parameters: { binary_data_output: true } },
      [new Uint8Array(x.buffer)],
    );
    const response = await post(`${s.url}/v2/models/mlp/infer`, request.body, request.headers);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    const { json, blobs } = splitBinaryResponse(response.buffer, Number(response.headers.get('inference-header-content-length')));
    expect(json.outputs[0]).toMatchObject({ name: 'output__0', datatype: 'FP32', shape: [3, 10], parameters: { binary_data_size: 120 } });
    const out = new Float32Array(new Uint8Array(blobs.get('output__0')!).buffer);
    expect(maxRelativeError(out, expected)).toBeLessThan(1e-6);
    // Per output: binary for one, JSON for the other.
    const mixed = await post(`${s.url}/v2/models/pair/infer`, {
      inputs: [jsonInput('x', [1, 2], 'FP32', [1, 2])],
      outputs: [{ name: 'output__1', parameters: { binary_data: true } }, { name: 'output__0' }],
    });
    const split = splitBinaryResponse(mixed.buffer, Number(mixed.headers.get('inference-header-content-length')));
    expect(split.json.outputs.map((o) => o.name)).toEqual(['output__1', 'output__0']);
    expect((split.json.outputs[1] as unknown as { data: number[] }).data).toEqual([2, 3]);
    expect(Array.from(new Float32Array(new Uint8Array(split.blobs.get('output__1')!).buffer))).toEqual([2, 4]);
  });

  it('maps every datatype both ways, JSON and binary', async () => {
    const cases: [string, unknown[]][] = [
      ['FP32', [1.5, -2.25]], ['FP64', [1e-300, 3.5]], ['FP16', [0.5, -65504]], ['INT64', [2 ** 40, -3]],
      ['INT32', [-7, 2 ** 30]], ['INT16', [-300, 300]], ['INT8', [-128, 127]], ['UINT8', [0, 255]], ['BOOL', [true, false]],
    ];
    for (const [datatype, data] of cases) {
      const response = await post(`${s.url}/v2/models/echo/infer`, { inputs: [jsonInput('x', [2], datatype, data)] });
      expect(response.status, datatype).toBe(200);
      expect(response.json().outputs[0], datatype).toMatchObject({ datatype, shape: [2], data });
    }
    const ints = BigInt64Array.from([5n, -(2n ** 50n)]);
    const request = binaryRequest({ inputs: [{ name: 'x', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } }], outputs: [{ name: 'output__0', parameters: { binary_data: true } }] }, [new Uint8Array(ints.buffer)]);
    const response = await post(`${s.url}/v2/models/echo/infer`, request.body, request.headers);
    const { blobs } = splitBinaryResponse(response.buffer, Number(response.headers.get('inference-header-content-length')));
    expect(Array.from(new BigInt64Array(new Uint8Array(blobs.get('output__0')!).buffer))).toEqual([5n, -(2n ** 50n)]);
  });

  it.each([
    ['not JSON', '{inputs', /not valid JSON/],
    ['no inputs', {}, /inputs must be a non-empty array/],
    ['unknown input', { inputs: [jsonInput('y', [1, 256], 'FP32', new Array(256).fill(0))] }, /has no input 'y'/],
    ['missing data', { inputs: [{ name: 'x', shape: [1, 256], datatype: 'FP32' }] }, /data .* is required/],
    ['wrong count', { inputs: [jsonInput('x', [1, 256], 'FP32', [1, 2])] }, /needs 256 elements, data has 2/],
    ['wrong shape', { inputs: [jsonInput('x', [1, 255], 'FP32', new Array(255).fill(0))] }, /needs shape \[-1, 256\]/],
    ['wrong datatype', { inputs: [jsonInput('x', [1, 256], 'INT32', new Array(256).fill(0))] }, /takes FP32, got INT32/],
    ['bad datatype', { inputs: [jsonInput('x', [1, 256], 'BYTES', [])] }, /unsupported datatype "BYTES"/],
    ['negative dim', { inputs: [jsonInput('x', [-1, 256], 'FP32', [])] }, /shape must be an array/],
    ['string data', { inputs: [jsonInput('x', [1, 256], 'FP32', new Array(256).fill('a'))] }, /expected a number/],
    ['duplicate', { inputs: [jsonInput('x', [1, 256], 'FP32', new Array(256).fill(0)), jsonInput('x', [1, 256], 'FP32', new Array(256).fill(0))] }, /given twice/],
    ['unknown output', { inputs: [jsonInput('x', [1, 256], 'FP32', new Array(256).fill(0))], outputs: [{ name: 'logits' }] }, /no output 'logits'/],
    ['too many elements', { inputs: [jsonInput('x', [1, 2 ** 23], 'FP32', [])] }, /exceed the limit/],
  ])('answers 400 with a message for %s', async (_what, body, message) => {
    const response = await post(`${s.url}/v2/models/mlp/infer`, body);
    expect(response.status).toBe(400);
    expect(response.json().error).toMatch(message);
  });

  it('answers 400 for broken binary framing', async () => {
    const bad = [
      { body: Buffer.from('{}'), headers: { 'inference-header-content-length': '99' }, message: /Inference-Header-Content-Length/ },
      { ...binaryRequest({ inputs: [{ name: 'x', shape: [1, 256], datatype: 'FP32', parameters: { binary_data_size: 1024 } }] }, [new Uint8Array(10)]), message: /runs past the end/ },
      { ...binaryRequest({ inputs: [{ name: 'x', shape: [1, 256], datatype: 'FP32', parameters: { binary_data_size: 8 } }] }, [new Uint8Array(8)]), message: /needs 1024 bytes/ },
      { ...binaryRequest({ inputs: [{ name: 'x', shape: [1, 256], datatype: 'FP32', parameters: { binary_data_size: 1024 } }] }, [new Uint8Array(1030)]), message: /bytes after the last binary input/ },
    ];
    for (const { body, headers, message } of bad) {
      const response = await post(`${s.url}/v2/models/mlp/infer`, body, { 'content-type': 'application/octet-stream', ...headers });
      expect(response.status).toBe(400);
      expect(response.json().error).toMatch(message);
    }
  });

  it('answers 400 when the model itself rejects the input, and keeps serving', async () => {
    const response = await post(`${s.url}/v2/models/strict/infer`, { inputs: [jsonInput('x', [1, 16], 'FP32', new Array(16).fill(-1))] });
    expect(response.status).toBe(400);
    expect(response.json().error).toMatch(/negative input/);
    const good = await post(`${s.url}/v2/models/strict/infer`, { inputs: [jsonInput('x', [1, 16], 'FP32', new Array(16).fill(2))] });
    expect(good.json().outputs[0].data).toEqual(new Array(16).fill(4));
  });

  it('answers 429 when the queue is full and 504 when a request waits past the timeout', async () => {
    const one = { inputs: [jsonInput('x', [1, 64], 'FP32', Array.from((costInput(1)[0] as { data: Float32Array }).data))] };
    const statuses = await Promise.all(Array.from({ length: 6 }, () => post(`${s.url}/v2/models/slow/infer`, one).then((r) => r.status)));
    expect(statuses).toContain(200);
    expect(statuses).toContain(429);
    expect(statuses.every((c) => c === 200 || c === 429)).toBe(true);

    const short = await startServer([{ name: 'slow', path: 'cost', constants: { iters: 40_000 }, pool: { batching: false, threadsPerEngine: 1 } }], { limits: { requestTimeoutMs: 20 } });
    try {
      const [first, second] = await Promise.all([post(`${short.url}/v2/models/slow/infer`, one), post(`${short.url}/v2/models/slow/infer`, one)]);
      expect([first.status, second.status].sort()).toEqual([200, 504]);
      expect([first, second].find((r) => r.status === 504)!.json().error).toMatch(/timeoutMs/);
    } finally {
      await short.server.shutdown();
    }
  });

  it('answers 413 for a body over the limit', async () => {
    const small = await startServer([{ name: 'mlp', path: 'mlp' }], { limits: { maxBodyBytes: 1024 } });
    try {
      const response = await post(`${small.url}/v2/models/mlp/infer`, { inputs: [jsonInput('x', [1, 256], 'FP32', new Array(256).fill(0.123456))] });
      expect(response.status).toBe(413);
      expect(response.json().error).toEqual(expect.any(String));
    } finally {
      await small.server.shutdown();
    }
  });
});
