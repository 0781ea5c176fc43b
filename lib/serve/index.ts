/**
 * `torchpool serve`: loads the models, serves them, and shuts down gracefully on SIGTERM/SIGINT
 * (readiness off, no new connections, in-flight requests drained within the deadline, pools
 * closed, exit 0). Also usable as a library: `createServer(config)`.
 * @module
 */
import { parseServeArgs, ServeUsageError, serveUsage } from './config.js';
import { createServer } from './server.js';

export { createServer } from './server.js';
export type { TorchpoolServer, ServerState } from './server.js';
export { parseServeArgs, serveUsage, ServeUsageError } from './config.js';
export type { ServeConfig, ModelConfig, ImageConfig, ServeLimits, VersionPolicy, ModelControlMode } from './config.js';
export { ModelRepository } from './repository.js';
export type { ModelIndexEntry, ModelState } from './repository.js';
export { inferenceClient, inferenceService, protoDir } from './grpc/proto.js';

/** The CLI: resolves with the exit code once the server has shut down (or failed to start). */
export async function serveMain(argv: string[]): Promise<number> {
  let config;
  try {
    config = parseServeArgs(argv);
  } catch (error) {
    if (error instanceof ServeUsageError) {
      console.error(`torchpool serve: ${error.message}\n\n${serveUsage}`);
      return 2;
    }
    throw error;
  }
  if (!config) {
    console.log(serveUsage);
    return 0;
  }
  let server;
  try {
    server = await createServer(config);
  } catch (error) {
    console.error(`torchpool serve: cannot load the models: ${(error as Error).message.split('\n')[0]}`);
    return 1;
  }
  const address = await server.listen();
  const models = [...server.models.values()].map((m) => `${m.name} (${m.pool.devices.join(', ')})`).join(', ');
  const threads = server.threads > 1 ? `; ${server.threads} HTTP threads` : '';
  const grpc = server.grpcAddress ? `; gRPC on ${server.grpcAddress}` : '';
  console.error(`torchpool serve: listening on ${address}; models: ${models || '(none loaded)'}${threads}${grpc}`);
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      console.error(`torchpool serve: ${signal}: draining (up to ${config.drainTimeoutMs} ms), then closing`);
      server.shutdown().then(() => {
        console.error('torchpool serve: stopped');
        resolve(0);
      }, (error: unknown) => {
        console.error(`torchpool serve: shutdown failed: ${(error as Error).message}`);
        resolve(1);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
