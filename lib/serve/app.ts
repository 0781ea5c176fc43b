/**
 * The HTTP routes of `torchpool serve` (fastify): Open Inference Protocol v2, the image route,
 * `/metrics`, limits and error statuses. Built once per HTTP thread; the models come from a
 * {@link ModelTable} and the pools behind them may be this thread's or shared by another.
 * @module
 */
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import * as path from 'node:path';
import fastifyMultipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Registry } from 'prom-client';
import type { ServeConfig } from './config.js';
import { HttpError, toHttpError } from './http-error.js';
import { parseInferRequest } from './infer-request.js';
import { encodeInferResponse } from './infer-response.js';
import type { RequestMetrics } from './metrics.js';
import type { ModelTable } from './model-table.js';
import { nameOutputs, type ServedModel } from './models.js';
import { classify } from './predict.js';

export interface AppOptions {
  config: ServeConfig;
  table: ModelTable;
  /** This thread's request counters. */
  metrics: RequestMetrics;
  /** The whole server's Prometheus text: the pools' metrics and every HTTP thread's counters. */
  renderMetrics: () => Promise<string>;
  /** False once the server drains: inference answers 503 and readiness turns off. */
  accepting: () => boolean;
}

type Params = { name: string; version?: string };

const metricsContentType = new Registry().contentType;

export const serverVersion = (() => {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

export async function buildApp({ config, table, metrics, renderMetrics, accepting }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({ bodyLimit: config.limits.maxBodyBytes, logger: false, return503OnClosing: true });

  // Bodies reach the handlers as bytes: the binary extension puts raw tensors after the JSON.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  await app.register(fastifyMultipart, { limits: { fileSize: config.limits.maxBodyBytes, files: 1 } });

  app.setErrorHandler((error, _request, reply) => {
    const http = toHttpError(error);
    void reply.code(http.status).send({ error: http.message });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: `no route ${request.method} ${request.url}` });
  });
  if (config.logRequests) {
    app.addHook('onResponse', async (request, reply) => {
      process.stderr.write(`${new Date().toISOString()} ${request.method} ${request.url} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)}ms\n`);
    });
  }

  const modelFor = (params: Params): ServedModel => table.resolve(params.name, params.version);
  const acceptingWork = () => {
    if (!accepting()) throw new HttpError(503, 'the server is shutting down');
  };
  // An abort signal that fires when the client goes away: one per connection (not per request,
  // which cost an AbortController and a listener each), so a keep-alive connection pays once.
  const connectionSignals = new WeakMap<Socket, AbortSignal>();
  const clientGone = (reply: FastifyReply): AbortSignal => {
    const socket = reply.raw.socket ?? reply.request.raw.socket;
    let signal = connectionSignals.get(socket);
    if (!signal) {
      const controller = new AbortController();
      setMaxListeners(0, controller.signal); // one listener per request in flight on the connection
      socket.once('close', () => controller.abort(new Error('the client closed the connection')));
      signal = controller.signal;
      connectionSignals.set(socket, signal);
    }
    return signal;
  };

  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_request, reply) => {
    const ready = accepting() && table.all().every((m) => m.ready);
    return reply.code(ready ? 200 : 503).send({ ready });
  });
  app.get('/v2', async () => ({ name: 'torchpool', version: serverVersion, extensions: ['binary_tensor_data'] }));

  const metadata = async (request: FastifyRequest<{ Params: Params }>) => {
    const model = modelFor(request.params);
    const meta = (t: { name: string; datatype: string; shape: number[] }) => ({ name: t.name, datatype: t.datatype, shape: t.shape });
    return { name: model.name, versions: table.versions(model.name), platform: model.platform, inputs: model.inputs.map(meta), outputs: model.outputs.map(meta) };
  };
  app.get('/v2/models/:name', metadata);
  app.get('/v2/models/:name/versions/:version', metadata);

  const modelReady = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const model = modelFor(request.params);
    const ready = accepting() && model.ready;
    return reply.code(ready ? 200 : 503).send({ name: model.name, ready });
  };
  app.get('/v2/models/:name/ready', modelReady);
  app.get('/v2/models/:name/versions/:version/ready', modelReady);

  const infer = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const started = performance.now();
    const model = modelFor(request.params);
    let items = 0;
    try {
      acceptingWork();
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const header = request.headers['inference-header-content-length'];
      const parsed = parseInferRequest(body, Array.isArray(header) ? header[0] : header, model, config.limits);
      items = [...parsed.tensors.values()][0]?.shape[0] ?? 1;
      const output = await model.pool.infer(model.forwardArgs(parsed.tensors), { timeoutMs: config.limits.requestTimeoutMs, signal: clientGone(reply) });
      const encoded = encodeInferResponse(model, parsed, nameOutputs(output));
      metrics.record(model, true, 200, items, (performance.now() - started) * 1000);
      if (encoded.headerLength === undefined) return reply.type('application/json').send(encoded.body);
      return reply.type('application/octet-stream').header('Inference-Header-Content-Length', encoded.headerLength).send(encoded.body);
    } catch (error) {
      const http = toHttpError(error);
      metrics.record(model, false, http.status, items, (performance.now() - started) * 1000);
      throw http;
    }
  };
  app.post('/v2/models/:name/infer', infer);
  app.post('/v2/models/:name/versions/:version/infer', infer);

  const predict = async (request: FastifyRequest<{ Params: Params; Querystring: { topk?: string } }>, reply: FastifyReply) => {
    const started = performance.now();
    const model = modelFor(request.params);
    try {
      acceptingWork();
      let bytes: Buffer | undefined;
      if (request.isMultipart()) {
        const file = await request.file();
        if (!file) throw new HttpError(400, 'the multipart body has no file');
        bytes = await file.toBuffer();
      } else if (Buffer.isBuffer(request.body)) {
        bytes = request.body;
      }
      if (!bytes || bytes.length === 0) throw new HttpError(400, 'send the image as the body (image/jpeg, image/png) or as a multipart file');
      const topk = request.query.topk === undefined ? model.image?.topK ?? 5 : Number(request.query.topk);
      if (!Number.isInteger(topk) || topk < 1 || topk > 1000) throw new HttpError(400, 'topk must be an integer between 1 and 1000');
      const predictions = await classify(model, bytes, topk, { timeoutMs: config.limits.requestTimeoutMs, signal: clientGone(reply) });
      metrics.record(model, true, 200, 1, (performance.now() - started) * 1000);
      return { model_name: model.name, model_version: model.version, predictions };
    } catch (error) {
      const http = toHttpError(error);
      metrics.record(model, false, http.status, 0, (performance.now() - started) * 1000);
      throw http;
    }
  };
  app.post('/v2/models/:name/predict', predict);
  app.post('/predict/:name', predict);

  app.get('/metrics', async (_request, reply) => reply.type(metricsContentType).send(await renderMetrics()));

  return app;
}
