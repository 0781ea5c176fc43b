// Starting `torchpool serve` in-process on loopback for the serve tests, and v2 request helpers.
import type { ModelConfig, ServeConfig, ServeLimits, TorchpoolServer } from '../../dist/serve/index.js';
import { createServer } from '../../dist/serve/index.js';

export type { ModelConfig, TorchpoolServer };

export interface Running {
  server: TorchpoolServer;
  url: string;
}

export async function startServer(models: ModelConfig[], overrides: Partial<Omit<ServeConfig, 'limits'>> & { limits?: Partial<ServeLimits> } = {}): Promise<Running> {
  const config: ServeConfig = {
    host: '127.0.0.1',
    port: 0,
    models: models.map((m) => ({ ...m, pool: { devices: 'cpu', ...m.pool } })),
    poolDefaults: { devices: 'cpu' },
    drainTimeoutMs: 10_000,
    logRequests: false,
    ...overrides,
    limits: { maxBodyBytes: 16 * 2 ** 20, maxTensorElements: 2 ** 22, requestTimeoutMs: 30_000, ...overrides.limits },
  };
  const server = await createServer(config);
  const url = await server.listen();
  return { server, url };
}

/** One v2 JSON input. */
export function jsonInput(name: string, shape: number[], datatype: string, data: unknown[]) {
  return { name, shape, datatype, data };
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const buffer = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, buffer, json: () => JSON.parse(buffer.toString('utf8')) };
}

/** A binary-extension request: JSON header, then the raw bytes of each input in order. */
export function binaryRequest(json: unknown, blobs: Uint8Array[]) {
  const header = Buffer.from(JSON.stringify(json));
  return { body: Buffer.concat([header, ...blobs]), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) } };
}

/** Splits a binary-extension response into its JSON and the bytes of each binary output. */
export function splitBinaryResponse(buffer: Buffer, headerLength: number) {
  const json = JSON.parse(buffer.subarray(0, headerLength).toString('utf8')) as { outputs: { name: string; datatype: string; shape: number[]; parameters?: { binary_data_size: number } }[] };
  let offset = headerLength;
  const blobs = new Map<string, Buffer>();
  for (const o of json.outputs) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    blobs.set(o.name, buffer.subarray(offset, offset + size));
    offset += size;
  }
  return { json, blobs };
}

/** Prometheus text -> { 'name{labels}': value }. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}
