// `torchpool serve` with a model whose config declares `padding`: v2 requests of different
// lengths, over HTTP and over gRPC, merge into padded batches and come back at their own length.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inferenceClient } from '../../dist/serve/index.js';
import { post, type Running, startServer } from '../support/serve.js';
import { encoderModel, torchPython } from '../support/python-models.js';

const python = torchPython();

describe.skipIf(!python)(`serve: padded batches of different lengths${python ? '' : ' [skipped: no Python with torch]'}`, () => {
  let running: Running;
  beforeAll(async () => {
    running = await startServer([{
      name: 'encoder', path: encoderModel(python!),
      pool: { padding: { x: { axis: 1 }, mask: { axis: 1, value: 1 } }, maxQueueDelayMicros: 50_000 },
    }], { grpcPort: 0 });
  });
  afterAll(async () => { await running.server.shutdown(); });

  const inputs = (length: number) => [
    { name: 'x', datatype: 'FP32', shape: [1, length, 32], data: Array.from({ length: length * 32 }, (_, i) => Math.sin(i + length)) },
    { name: 'mask', datatype: 'BOOL', shape: [1, length], data: new Array(length).fill(false) },
  ];

  it('answers HTTP requests of different lengths from shared batches, each at its own length', async () => {
    const lengths = [4, 9, 13, 6];
    const answers = await Promise.all(lengths.map((l) => post(`${running.url}/v2/models/encoder/infer`, { inputs: inputs(l) })));
    answers.forEach((answer, i) => {
      expect(answer.status).toBe(200);
      const outputs = answer.json().outputs as { name: string; shape: number[] }[];
      expect(outputs.find((o) => o.name === 'output__0')!.shape).toEqual([1, lengths[i], 32]);
      expect(outputs.find((o) => o.name === 'output__1')!.shape).toEqual([1, 32]);
    });
    const stats = running.server.models.get('encoder')!.pool.stats();
    expect(stats.meanBatchSize).toBeGreaterThan(1);
    expect(stats.engines[0]!.lengthPadding.requests).toBeGreaterThanOrEqual(lengths.length);
  });

  it('answers gRPC requests of different lengths the same way', async () => {
    const Client = inferenceClient();
    const client = new Client(running.server.grpcAddress!, grpc.credentials.createInsecure()) as unknown as { ModelInfer: (r: unknown, m: grpc.Metadata, o: object, cb: (e: Error | null, r: any) => void) => void; close(): void };
    try {
      const request = (length: number) => ({
        model_name: 'encoder',
        inputs: [
          { name: 'x', datatype: 'FP32', shape: [1, length, 32], contents: { fp32_contents: Array.from({ length: length * 32 }, (_, i) => Math.cos(i)) } },
          { name: 'mask', datatype: 'BOOL', shape: [1, length], contents: { bool_contents: new Array(length).fill(false) } },
        ],
      });
      const lengths = [3, 11, 7];
      const responses = await Promise.all(lengths.map((l) => new Promise<any>((resolve, reject) =>
        client.ModelInfer(request(l), new grpc.Metadata(), {}, (e, r) => (e ? reject(e) : resolve(r))))));
      responses.forEach((r, i) => expect(r.outputs[0].shape).toEqual(['1', String(lengths[i]), '32']));
    } finally {
      client.close();
    }
  });
});
