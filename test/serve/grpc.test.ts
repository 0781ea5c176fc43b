// The gRPC form of the protocol (`torchpool serve --grpc-port`), driven by a real @grpc/grpc-js
// client generated from the same .proto files: every RPC, typed and raw tensor contents, errors as
// status codes, deadlines and cancellation withdrawing queued requests, the repository RPCs, the
// shared metrics, and a load run.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inferenceClient } from '../../dist/serve/index.js';
import { parseMetrics, post, type Running, startServer } from '../support/serve.js';
import { modelPath } from '../support/torchpool.js';

type Client = Record<string, (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: any) => void) => grpc.ClientUnaryCall> & grpc.Client;

describe('torchpool serve over gRPC', () => {
  let running: Running;
  let client: Client;
  const call = (method: string, request: unknown, options: grpc.CallOptions = {}) =>
    new Promise<any>((resolve, reject) => {
      client[method]!(request, new grpc.Metadata(), options, (error, response) => (error ? reject(error) : resolve(response)));
    });
  const codeOf = (p: Promise<unknown>) => p.then(() => 'OK', (e: grpc.ServiceError) => grpc.status[e.code]);

  beforeAll(async () => {
    const echoPath = await modelPath('identity');
    running = await startServer([
      { name: 'mlp', path: 'mlp' },
      { name: 'embedding', path: 'embedding' },
      { name: 'echo', path: echoPath }, // identity with an undeclared input: any datatype
      { name: 'slow', path: 'cost', constants: { iters: 100_000 }, pool: { batching: false, threadsPerEngine: 1, maxQueueSize: 4 } },
    ], { grpcPort: 0, modelControlMode: 'explicit', limits: { maxBodyBytes: 2 ** 20 } });
    const Client = inferenceClient();
    client = new Client(running.server.grpcAddress!, grpc.credentials.createInsecure()) as unknown as Client;
  });
  afterAll(async () => {
    client.close();
    await running.server.shutdown();
  });

  const x = Array.from({ length: 256 }, (_, i) => Math.sin(i) / 4);
  const mlpRequest = (extra: object = {}) => ({
    model_name: 'mlp',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 256], contents: { fp32_contents: x } }],
    ...extra,
  });

  it('answers health and metadata', async () => {
    expect(await call('ServerLive', {})).toEqual({ live: true });
    expect(await call('ServerReady', {})).toEqual({ ready: true });
    expect(await call('ModelReady', { name: 'mlp' })).toEqual({ ready: true });
    expect(await call('ServerMetadata', {})).toMatchObject({ name: 'torchpool', extensions: ['binary_tensor_data', 'model_repository'] });
    const meta = await call('ModelMetadata', { name: 'mlp' });
    expect(meta).toMatchObject({ name: 'mlp', versions: ['1'], inputs: [{ name: 'x', datatype: 'FP32', shape: ['-1', '256'] }] });
    expect(meta.outputs[0]).toMatchObject({ name: 'output__0', datatype: 'FP32', shape: ['-1', '10'] });
  });

  it('runs inference from typed contents and from raw_input_contents, with raw or typed outputs, like HTTP', async () => {
    const http = (await post(`${running.url}/v2/models/mlp/infer`, { inputs: [{ name: 'x', shape: [1, 256], datatype: 'FP32', data: x }] })).json().outputs[0].data as number[];
    const typedIn = await call('ModelInfer', mlpRequest({ id: 'req-1' }));
    expect(typedIn).toMatchObject({ model_name: 'mlp', model_version: '1', id: 'req-1', outputs: [{ name: 'output__0', datatype: 'FP32', shape: ['1', '10'] }] });
    const raw = typedIn.raw_output_contents[0] as Buffer;
    const fromRaw = Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
    fromRaw.forEach((v, i) => expect(v).toBeCloseTo(http[i]!, 5));

    const rawIn = await call('ModelInfer', {
      model_name: 'mlp',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 256] }],
      raw_input_contents: [Buffer.from(new Float32Array(x).buffer)],
      parameters: { binary_data_output: { bool_param: false } },
    });
    expect(rawIn.raw_output_contents).toEqual([]);
    (rawIn.outputs[0].contents.fp32_contents as number[]).forEach((v, i) => expect(v).toBeCloseTo(http[i]!, 5));

    // INT64 ids in int64_contents (decimal strings on the wire) and in raw bytes.
    const ids = { name: 'ids', datatype: 'INT64', shape: [2, 8] };
    const values = Array.from({ length: 16 }, (_, i) => BigInt(i * 3));
    const typedIds = await call('ModelInfer', { model_name: 'embedding', inputs: [{ ...ids, contents: { int64_contents: values.map(String) } }] });
    const rawIds = await call('ModelInfer', { model_name: 'embedding', inputs: [ids], raw_input_contents: [Buffer.from(new BigInt64Array(values).buffer)] });
    expect(typedIds.raw_output_contents[0]).toEqual(rawIds.raw_output_contents[0]);
    expect(typedIds.outputs[0].shape[0]).toBe('2');
  });

  it('carries every datatype both ways, in typed contents and raw bytes', async () => {
    const cases: [string, string, unknown[], ArrayBufferView][] = [
      ['BOOL', 'bool_contents', [true, false], new Uint8Array([1, 0])],
      ['UINT8', 'uint_contents', [0, 255], new Uint8Array([0, 255])],
      ['INT8', 'int_contents', [-128, 127], new Int8Array([-128, 127])],
      ['INT16', 'int_contents', [-32768, 32767], new Int16Array([-32768, 32767])],
      ['INT32', 'int_contents', [-(2 ** 31), 2 ** 31 - 1], new Int32Array([-(2 ** 31), 2 ** 31 - 1])],
      ['INT64', 'int64_contents', ['-9007199254740993', '42'], new BigInt64Array([-9007199254740993n, 42n])],
      ['FP32', 'fp32_contents', [1.5, -2.25], new Float32Array([1.5, -2.25])],
      ['FP64', 'fp64_contents', [Math.PI, -1e300], new Float64Array([Math.PI, -1e300])],
    ];
    for (const [datatype, field, values, bytes] of cases) {
      const input = { name: 'x', datatype, shape: [2] };
      const typed = await call('ModelInfer', { model_name: 'echo', inputs: [{ ...input, contents: { [field]: values } }], parameters: { binary_data_output: { bool_param: false } } });
      expect(typed.outputs[0], datatype).toMatchObject({ datatype, shape: ['2'] });
      expect(typed.outputs[0].contents[field], datatype).toEqual(values);
      const raw = await call('ModelInfer', { model_name: 'echo', inputs: [input], raw_input_contents: [Buffer.from(bytes.buffer)] });
      expect(raw.raw_output_contents[0], datatype).toEqual(Buffer.from(bytes.buffer));
    }
    // FP16 has no typed field: raw only, both ways.
    const half = Buffer.from(new Uint16Array([0x3c00, 0xc000]).buffer);
    const fp16 = await call('ModelInfer', { model_name: 'echo', inputs: [{ name: 'x', datatype: 'FP16', shape: [2] }], raw_input_contents: [half], parameters: { binary_data_output: { bool_param: false } } });
    expect(fp16.raw_output_contents[0]).toEqual(half);
    expect(await codeOf(call('ModelInfer', { model_name: 'echo', inputs: [{ name: 'x', datatype: 'FP16', shape: [2], contents: { fp32_contents: [1, 2] } }] }))).toBe('INVALID_ARGUMENT');
  });

  it('maps errors to gRPC status codes', async () => {
    expect(await codeOf(call('ModelInfer', { ...mlpRequest(), model_name: 'nope' }))).toBe('NOT_FOUND');
    expect(await codeOf(call('ModelInfer', { ...mlpRequest(), model_version: '7' }))).toBe('NOT_FOUND');
    expect(await codeOf(call('ModelReady', { name: 'nope' }))).toBe('NOT_FOUND');
    const badShape = mlpRequest();
    badShape.inputs[0]!.shape = [1, 255];
    expect(await codeOf(call('ModelInfer', badShape))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(call('ModelInfer', { model_name: 'mlp', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 256] }], raw_input_contents: [Buffer.alloc(8)] }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(call('ModelInfer', { model_name: 'mlp', inputs: [] }))).toBe('INVALID_ARGUMENT');
    const error = await call('ModelInfer', badShape).catch((e: grpc.ServiceError) => e);
    expect(error.details).toMatch(/needs shape \[-1, 256\]/);
    // Over the message limit (1 MiB here): RESOURCE_EXHAUSTED before the handler runs.
    const huge = { model_name: 'mlp', inputs: [{ name: 'x', datatype: 'FP32', shape: [1200, 256] }], raw_input_contents: [Buffer.alloc(1200 * 1024)] };
    expect(await codeOf(call('ModelInfer', huge))).toBe('RESOURCE_EXHAUSTED');
  });

  it('withdraws a queued request at its deadline or when the client cancels, and reports a full queue', async () => {
    const slow = { model_name: 'slow', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 64], contents: { fp32_contents: new Array(64).fill(0.1) } }] };
    const pool = running.server.models.get('slow')!.pool;
    const until = async (check: () => boolean) => {
      for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
      expect(check()).toBe(true);
    };
    const ranBefore = pool.stats().requests;
    const busy = call('ModelInfer', slow); // occupies the one engine for a few hundred ms
    await until(() => pool.stats().engines[0]!.inFlight > 0);
    expect(await codeOf(call('ModelInfer', slow, { deadline: Date.now() + 50 }))).toBe('DEADLINE_EXCEEDED');
    await until(() => pool.stats().queueDepth === 0); // withdrawn, while the engine is still busy
    const cancelled = client.ModelInfer!(slow, new grpc.Metadata(), {}, () => undefined);
    await until(() => pool.stats().queueDepth > 0);
    cancelled.cancel();
    await until(() => pool.stats().queueDepth === 0);
    expect(pool.stats().engines[0]!.inFlight).toBe(1); // still the first one
    const full = Array.from({ length: 8 }, () => codeOf(call('ModelInfer', slow)));
    const codes = await Promise.all(full);
    expect(codes).toContain('RESOURCE_EXHAUSTED');
    expect(await codeOf(busy)).toBe('OK');
    // The request past its deadline and the cancelled one left the queue without running.
    const ok = codes.filter((c) => c === 'OK').length;
    expect(ok).toBeGreaterThan(0);
    expect(pool.stats().requests - ranBefore).toBe(1 + ok);
  }, 30_000);

  it('serves the repository RPCs in Triton\'s layout', async () => {
    const { models } = await call('RepositoryIndex', { ready: true });
    expect(models.map((m: { name: string }) => m.name)).toEqual(['echo', 'embedding', 'mlp', 'slow']);
    expect(models[1]).toEqual({ name: 'embedding', version: '1', state: 'READY', reason: '' });
    expect(await call('RepositoryModelUnload', { model_name: 'embedding' })).toEqual({});
    expect(await codeOf(call('ModelReady', { name: 'embedding' }))).toBe('NOT_FOUND');
    expect(await call('RepositoryModelLoad', { model_name: 'embedding' })).toEqual({});
    expect(await call('ModelReady', { name: 'embedding' })).toEqual({ ready: true });
    expect(await codeOf(call('RepositoryModelLoad', { model_name: 'nope' }))).toBe('INVALID_ARGUMENT');
  });

  it('counts gRPC requests in the same metrics and sustains a load run without errors', async () => {
    const before = parseMetrics(await (await fetch(`${running.url}/metrics`)).text());
    const results = await Promise.all(Array.from({ length: 600 }, () => codeOf(call('ModelInfer', mlpRequest()))));
    expect(new Set(results)).toEqual(new Set(['OK']));
    const after = parseMetrics(await (await fetch(`${running.url}/metrics`)).text());
    const key = 'nv_inference_request_success{model="mlp",version="1"}';
    expect((after.get(key) ?? 0) - (before.get(key) ?? 0)).toBe(600);
  });
});

describe('gRPC beside several HTTP threads', () => {
  it('serves gRPC on every HTTP thread, on one shared port, and counts it in the one /metrics view', async () => {
    const running = await startServer([{ name: 'mlp', path: 'mlp' }], { grpcPort: 0, threads: 2 });
    const Client = inferenceClient();
    // Separate channels: separate connections, which the kernel hands to either thread.
    const clients = Array.from({ length: 8 }, (_, i) => new Client(running.server.grpcAddress!, grpc.credentials.createInsecure(), { 'grpc.channel_id': i, 'grpc.use_local_subchannel_pool': 1 }) as unknown as Client);
    try {
      const request = { model_name: 'mlp', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 256], contents: { fp32_contents: new Array(256).fill(0.5) } }] };
      const responses = await Promise.all(clients.flatMap((client) => Array.from({ length: 5 }, () => new Promise<any>((resolve, reject) =>
        client.ModelInfer!(request, new grpc.Metadata(), {}, (e, r) => (e ? reject(e) : resolve(r)))))));
      expect(responses.every((r) => r.outputs[0].shape[1] === '10')).toBe(true);
      const metrics = parseMetrics(await (await fetch(`${running.url}/metrics`)).text());
      expect(metrics.get('nv_inference_request_success{model="mlp",version="1"}')).toBe(40);
      const perThread = [0, 1].map((t) => metrics.get(`torchpool_http_thread_requests{thread="${t}"}`) ?? 0);
      // Every call was answered by an HTTP thread (the /metrics scrape is counted after it answers).
      expect(perThread[0]! + perThread[1]!).toBe(40);
      expect(metrics.get('torchpool_http_thread_requests{thread="grpc"}')).toBeUndefined();
      console.log(`gRPC calls per thread: ${perThread.join(', ')}`);
    } finally {
      for (const client of clients) client.close();
      await running.server.shutdown();
    }
  });
});
