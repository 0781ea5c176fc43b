/**
 * `torchpool serve --grpc-port`: the Open Inference Protocol over gRPC (@grpc/grpc-js), on the
 * same models, limits, metrics and repository as the HTTP routes. Errors map to gRPC status
 * codes (INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, UNAVAILABLE, DEADLINE_EXCEEDED, ...);
 * a client's deadline bounds the request's wait for an engine, and a cancelled call (or one past
 * its deadline) withdraws its request from the queue.
 * @module
 */
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { onCurrentModel, type RepositoryControl, serverVersion } from '../app.js';
import type { ServeConfig } from '../config.js';
import { HttpError, toHttpError } from '../http-error.js';
import type { RequestMetrics } from '../metrics.js';
import type { ModelTable } from '../model-table.js';
import { nameOutputs } from '../models.js';
import { inferenceService } from './proto.js';
import { encodeGrpcInfer, type ModelInferRequest, parseGrpcInfer } from './tensors.js';

export interface GrpcOptions {
  config: ServeConfig;
  table: ModelTable;
  metrics: RequestMetrics;
  accepting: () => boolean;
  repository: RepositoryControl;
  /**
   * `serve --threads`: a listening socket's descriptor (a duplicate of the one every thread
   * serves) and its address, instead of binding `config.grpcPort` here. Connections this thread
   * accepts on it are handed to its gRPC server (grpc-js's connection injector).
   */
  shared?: { fd: number; address: string };
}

export interface GrpcServer {
  /** host:port it listens on. */
  address: string;
  /** Stops taking calls, lets those in flight finish within `graceMs`, then cancels the rest. */
  close(graceMs: number): Promise<void>;
}

/** The gRPC status for an HTTP status of the same meaning. */
export function grpcStatus(http: number): grpc.status {
  switch (http) {
    case 400: return grpc.status.INVALID_ARGUMENT;
    case 404: return grpc.status.NOT_FOUND;
    case 413: case 429: return grpc.status.RESOURCE_EXHAUSTED;
    case 499: return grpc.status.CANCELLED;
    case 501: return grpc.status.UNIMPLEMENTED;
    case 503: return grpc.status.UNAVAILABLE;
    case 504: return grpc.status.DEADLINE_EXCEEDED;
    default: return grpc.status.INTERNAL;
  }
}

type Handler = (call: grpc.ServerUnaryCall<never, unknown>, callback: grpc.sendUnaryData<unknown>) => void;

/**
 * A unary handler around an async body: one answer per call (grpc-js reports 'cancelled' even after
 * a normal answer), every error as a status (an async handler's rejection would end the process).
 */
function unary<Req>(body: (request: Req, call: grpc.ServerUnaryCall<Req, unknown>, signal: AbortSignal) => Promise<unknown>): Handler {
  return (call, callback) => {
    let answered = false;
    const controller = new AbortController();
    call.on('cancelled', () => {
      if (!answered) controller.abort(new Error(call.getDeadline() !== Infinity && Date.now() >= Number(call.getDeadline()) ? 'deadline exceeded' : 'the client cancelled the call'));
    });
    body((call as unknown as grpc.ServerUnaryCall<Req, unknown>).request, call as unknown as grpc.ServerUnaryCall<Req, unknown>, controller.signal).then(
      (response) => {
        answered = true;
        callback(null, response);
      },
      (error: unknown) => {
        answered = true;
        const http = toHttpError(error);
        callback({ code: grpcStatus(http.status), details: http.message });
      },
    );
  };
}

export async function startGrpc({ config, table, metrics, accepting, repository, shared }: GrpcOptions): Promise<GrpcServer> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.limits.maxBodyBytes,
    'grpc.max_send_message_length': -1,
  });
  const accept = () => {
    if (!accepting()) throw new HttpError(503, 'the server is shutting down');
  };
  const handlers: Record<string, Handler> = {
    ServerLive: unary(async () => ({ live: true })),
    ServerReady: unary(async () => ({ ready: accepting() && table.all().every((m) => m.ready) })),
    ModelReady: unary(async (request: { name: string; version: string }) => {
      const model = table.resolve(request.name, request.version || undefined);
      return { ready: accepting() && model.ready };
    }),
    ServerMetadata: unary(async () => ({ name: 'torchpool', version: serverVersion, extensions: ['binary_tensor_data', 'model_repository'] })),
    ModelMetadata: unary(async (request: { name: string; version: string }) => {
      const model = table.resolve(request.name, request.version || undefined);
      const meta = (t: { name: string; datatype: string; shape: number[] }) => ({ name: t.name, datatype: t.datatype, shape: t.shape.map(String) });
      return { name: model.name, versions: table.versions(model.name), platform: model.platform, inputs: model.inputs.map(meta), outputs: model.outputs.map(meta) };
    }),
    ModelInfer: unary(async (request: ModelInferRequest, call, signal) => {
      const started = performance.now();
      let model = table.resolve(request.model_name, request.model_version || undefined);
      let items = 0;
      try {
        accept();
        // The client's deadline bounds the wait for an engine too.
        const deadline = Number(call.getDeadline());
        const timeoutMs = Number.isFinite(deadline) ? Math.max(1, Math.min(config.limits.requestTimeoutMs, deadline - Date.now())) : config.limits.requestTimeoutMs;
        const response = await onCurrentModel(table, request.model_name, request.model_version || undefined, async (current) => {
          model = current;
          const parsed = parseGrpcInfer(request, current, config.limits);
          items = [...parsed.tensors.values()][0]?.shape[0] ?? 1;
          const output = await current.pool.infer(current.forwardArgs(parsed.tensors), { timeoutMs, signal });
          return encodeGrpcInfer(current, parsed, nameOutputs(output));
        });
        metrics.record(model, true, 200, items, (performance.now() - started) * 1000);
        return response;
      } catch (error) {
        const http = toHttpError(error);
        metrics.record(model, false, http.status, items, (performance.now() - started) * 1000);
        throw http;
      }
    }),
    RepositoryIndex: unary(async (request: { ready: boolean }) => ({ models: (await repository.index(request.ready)).map((e) => ({ ...e, version: e.version ?? '' })) })),
    // Triton's layout puts the model in model_name (field 2); KServe's Python proto in field 1,
    // which arrives here as repository_name: take that when model_name is empty.
    RepositoryModelLoad: unary(async (request: { model_name: string; repository_name: string }) => {
      accept();
      await repository.load(request.model_name || request.repository_name);
      return {};
    }),
    RepositoryModelUnload: unary(async (request: { model_name: string; repository_name: string }) => {
      accept();
      await repository.unload(request.model_name || request.repository_name);
      return {};
    }),
  };
  server.addService(inferenceService(), handlers as unknown as grpc.UntypedServiceImplementation);
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let address: string;
  let listener: net.Server | undefined;
  if (shared) {
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    listener = net.createServer((socket) => injector.injectConnection(socket));
    await new Promise<void>((resolve, reject) => {
      listener!.once('error', reject);
      listener!.listen({ fd: shared.fd }, resolve);
    });
    address = shared.address;
  } else {
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host}:${config.grpcPort ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
    });
    address = `${host}:${port}`;
  }
  let closing: Promise<void> | undefined;
  return {
    address,
    close(graceMs: number) {
      closing ??= new Promise<void>((resolve) => {
        // No new connections on a shared socket (only this thread's duplicate closes).
        listener?.close();
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}
