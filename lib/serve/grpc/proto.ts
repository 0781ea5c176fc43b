/**
 * The gRPC service of `torchpool serve`: `inference.GRPCInferenceService` as KServe's
 * grpc_predict_v2.proto defines it (shipped unmodified in proto/), plus the model repository RPCs
 * in Triton's message layout (proto/model_repository.proto), mounted under the same service name
 * so that Triton and KServe clients find them where they look.
 * @module
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The folder of the .proto files (package root /proto; this file is in dist/serve/grpc). */
export const protoDir = path.resolve(__dirname, '..', '..', '..', 'proto');

/** Field names as in the .proto (model_name), int64 as decimal strings (lossless), bytes as Buffers. */
export const loaderOptions: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

const SERVICE = 'inference.GRPCInferenceService';

let cached: grpc.ServiceDefinition | undefined;

/** The nine methods of inference.GRPCInferenceService that torchpool serves. */
export function inferenceService(): grpc.ServiceDefinition {
  if (cached) return cached;
  const definition = protoLoader.loadSync(['grpc_predict_v2.proto', 'model_repository.proto'], { ...loaderOptions, includeDirs: [protoDir] });
  const predict = definition[SERVICE] as grpc.ServiceDefinition;
  const repository = definition['inference.ModelRepositoryService'] as grpc.ServiceDefinition;
  const merged: Record<string, grpc.MethodDefinition<unknown, unknown>> = { ...predict };
  for (const [name, method] of Object.entries(repository)) merged[name] = { ...method, path: `/${SERVICE}/${name}` };
  cached = merged as grpc.ServiceDefinition;
  return cached;
}

/** A client class for the same service (tests, benchmarks, your own tools). */
export function inferenceClient(): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(inferenceService(), 'GRPCInferenceService');
}
