// Starts `torchpool serve` in a child process for the serve benches and waits for its listening
// line: { child, url } and, when --grpc-port is among the arguments, grpcAddress.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { root } from './measure.mjs';

export function startServe(serveArgs, { nodeArgs = [], ipc = false } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'dist/cli.js'), 'serve', '--host', '127.0.0.1', '--port', '0', ...serveArgs],
    { stdio: ['ignore', 'ignore', 'pipe', ...(ipc ? ['ipc'] : [])] });
  const grpc = serveArgs.includes('--grpc-port');
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      const http = /listening on (http:\/\/[^;\s]+)/.exec(stderr);
      const rpc = /gRPC on ([^;\s]+)/.exec(stderr);
      if (http && (!grpc || rpc)) resolve({ child, url: http[1], grpcAddress: rpc?.[1] });
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
}
