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
import { ErrorCodes, TorchpoolError } from '../errors.js';
import type { ServeConfig } from './config.js';
import { HttpError, toHttpError } from './http-error.js';
import { parseInferRequest } from './infer-request.js';
import { encodeInferResponse } from './infer-response.js';
import type { RequestMetrics } from './metrics.js';
import type { ModelTable } from './model-table.js';
import { nameOutputs, type ServedModel } from './models.js';
import { classify } from './predict.js';
import type { ModelIndexEntry } from './repository.js';

export interface AppOptions {
  config: ServeConfig;
  table: ModelTable;
  /** This thread's request counters. */
  metrics: RequestMetrics;
  /** The whole server's Prometheus text: the pools' metrics and every HTTP thread's counters. */
  renderMetrics: () => Promise<string>;
  /** False once the server drains: inference answers 503 and readiness turns off. */
  accepting: () => boolean;
  /** The model repository API (load, unload, index). */
  repository: RepositoryControl;
}

/** What the repository routes call: the ModelRepository itself, or a relay to the thread that owns it. */
export interface RepositoryControl {
  index(readyOnly: boolean): Promise<ModelIndexEntry[]>;
  load(name: string): Promise<void>;
  unload(name: string): Promise<void>;
}

/**
 * Runs `work` on the model a request resolves to. A reload swaps a model while requests are on
 * their way to it; a request that reaches the old pool after it stopped taking work (CLOSED)
 * runs again on the model that replaced it, so a reload drops nothing.
 */
export async function onCurrentModel<T>(table: ModelTable, name: string, version: string | undefined, work: (model: ServedModel) => Promise<T>): Promise<T> {
  let model = table.resolve(name, version);
  for (let attempt = 0; ; attempt++) {
    try {
      return await work(model);
    } catch (error) {
      const replaced = error instanceof TorchpoolError && error.code === ErrorCodes.CLOSED && attempt < 3 && table.has(name, version);
      const next = replaced ? table.resolve(name, version) : undefined;
      if (!next || next === model) throw error;
      model = next;
    }
  }
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

export async function buildApp({ config, table, metrics, renderMetrics, accepting, repository }: AppOptions): Promise<FastifyInstance> {
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

  // While draining, answers close their connection: keep-alive clients reconnect elsewhere and the
  // drain ends when the last answer is out, not when idle connections time out.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (!accepting()) void reply.header('connection', 'close');
    return payload;
  });

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
  app.get('/v2', async () => ({ name: 'torchpool', version: serverVersion, extensions: ['binary_tensor_data', 'model_repository'] }));

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
    let model = modelFor(request.params);
    let items = 0;
    try {
      acceptingWork();
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const header = request.headers['inference-header-content-length'];
      const encoded = await onCurrentModel(table, request.params.name, request.params.version, async (current) => {
        model = current;
        const parsed = parseInferRequest(body, Array.isArray(header) ? header[0] : header, current, config.limits);
        items = [...parsed.tensors.values()][0]?.shape[0] ?? 1;
        const output = await current.pool.infer(current.forwardArgs(parsed.tensors), { timeoutMs: config.limits.requestTimeoutMs, signal: clientGone(reply) });
        return encodeInferResponse(current, parsed, nameOutputs(output));
      });
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
      const image = bytes;
      const predictions = await onCurrentModel(table, request.params.name, request.params.version, (current) =>
        classify(current, image, topk, { timeoutMs: config.limits.requestTimeoutMs, signal: clientGone(reply) }));
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

  // The model repository extension (Triton's): index, load (or reload), unload.
  const jsonBody = (request: FastifyRequest): Record<string, unknown> => {
    const body = Buffer.isBuffer(request.body) ? request.body : undefined;
    if (!body || body.length === 0) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (error) {
      throw new HttpError(400, `the request is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'the request must be a JSON object');
    return parsed as Record<string, unknown>;
  };
  app.post('/v2/repository/index', async (request) => {
    const { ready } = jsonBody(request);
    if (ready !== undefined && typeof ready !== 'boolean') throw new HttpError(400, 'ready must be a boolean');
    return repository.index(ready === true);
  });
  const control = (op: 'load' | 'unload') => async (request: FastifyRequest<{ Params: { name: string } }>) => {
    const { parameters } = jsonBody(request);
    if (parameters !== undefined && (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters))) throw new HttpError(400, 'parameters must be an object');
    if (!accepting()) throw new HttpError(503, 'the server is shutting down');
    await repository[op](request.params.name);
    return {};
  };
  app.post('/v2/repository/models/:name/load', control('load'));
  app.post('/v2/repository/models/:name/unload', control('unload'));

  return app;
}
