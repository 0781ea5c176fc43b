/**
 * `torchpool serve` configuration: command-line flags, an optional JSON config file for
 * per-model pool options, and their checks. Usage errors exit 2 with a message.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { ErrorCodes } from '../errors.js';
import { type InferencePoolOptions, POOL_OPTION_KEYS } from '../options.js';
import { closestName, parseFlags } from '../validate.js';
import type { Datatype } from './datatypes.js';

/** A malformed command line or config file: the CLI prints it with the usage and exits 2. */
export class ServeUsageError extends Error {
  readonly code = ErrorCodes.INVALID_ARG;
}

/** Throws ServeUsageError for a key of `value` that is not in `known`, naming the closest one. */
export function checkConfigKeys(value: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const suggestion = closestName(key, known);
    throw new ServeUsageError(`${where}: unknown option '${key}'${suggestion ? ` (did you mean '${suggestion}'?)` : ''}; the options are ${known.map((k) => `'${k}'`).join(', ')}`);
  }
}

/**
 * `--threads auto`: half the cores, at most 8. On a 16-core H200 machine (one GPU engine, the
 * load generator on the same machine) the binary route peaked at 8 threads (60.2k requests/s;
 * 47.3k at 4, 37.3k at 16, where HTTP threads, engine threads and the load fought over the
 * cores); on a 2-core VM more threads added nothing.
 */
export function autoThreads(cores = os.availableParallelism()): number {
  return Math.max(1, Math.min(8, Math.floor(cores / 2)));
}

const TOP_LEVEL_KEYS = ['models', 'host', 'port', 'limits', 'drainTimeoutMs', 'threads', 'modelRepository', 'modelControlMode',
  'loadModels', 'repositoryPollSecs', 'grpcPort', 'extensions'];
const LIMIT_KEYS = ['maxBodyBytes', 'maxTensorElements', 'requestTimeoutMs'];
const MODEL_KEYS = ['path', 'version', 'pool', 'inputs', 'constants', 'image', 'version_policy'];
const IMAGE_KEYS = ['size', 'mean', 'std', 'labels', 'topK'];
/** What a model's `pool` may hold: the pool options, less `model` (the model's `path`). */
export const SERVE_POOL_KEYS = POOL_OPTION_KEYS.filter((k) => k !== 'model');

/** Preprocessing of the image route (`POST /v2/models/{name}/predict`, `POST /predict/{name}`). */
export interface ImageConfig {
  /** Height and width the model takes (default 224). */
  size?: number | [number, number];
  /** Per-channel mean and std of the RGB values scaled to [0, 1] (default ImageNet's). */
  mean?: [number, number, number];
  std?: [number, number, number];
  /** Labels file: one class name per line, in output order. */
  labels?: string;
  /** Classes returned by default (a request may ask for `?topk=N`); default 5. */
  topK?: number;
}

/**
 * Which versions of a repository model are served (Triton's version policy): the `latest`
 * `num_versions` (default: the latest one), `all`, or `specific` version numbers.
 */
export type VersionPolicy =
  | { latest: { num_versions?: number } }
  | { all: Record<string, never> }
  | { specific: { versions: number[] } };

/** How the model repository is controlled (Triton's `--model-control-mode`). */
export type ModelControlMode = 'none' | 'explicit' | 'poll';

/** One served model. */
export interface ModelConfig {
  name: string;
  /** A TorchScript file, or the name of a built-in model (`resnet18`, `mlp`, ...). */
  path: string;
  version?: string;
  /** Pool options of this model (devices, batching, precision, CUDA engine ...). */
  pool?: Omit<InferencePoolOptions, 'model'>;
  /** Input metadata; by default taken from the model's forward signature (shape -1 when unknown). */
  inputs?: { name: string; datatype: Datatype; shape: number[] }[];
  /** Non-tensor arguments of forward, fixed for every request (e.g. `{ "iters": 100 }`). */
  constants?: Record<string, number | boolean | string>;
  /** Enables the image route for this model. */
  image?: ImageConfig;
  /** Repository models: which versions to serve; default `{ latest: { num_versions: 1 } }`. */
  version_policy?: VersionPolicy;
}

export interface ServeLimits {
  /** Largest request body (JSON plus binary tensors); default 64 MiB. Larger: 413. */
  maxBodyBytes: number;
  /** Most elements in one input tensor; default 2^24. */
  maxTensorElements: number;
  /** How long a request may wait for an engine; default 30 s. Longer: 504. */
  requestTimeoutMs: number;
}

export interface ServeConfig {
  host: string;
  port: number;
  models: ModelConfig[];
  limits: ServeLimits;
  /** How long SIGTERM/SIGINT waits for in-flight requests before closing the pools; default 30 s. */
  drainTimeoutMs: number;
  /** Log one line per request to stderr. */
  logRequests: boolean;
  /**
   * HTTP threads that accept and answer requests on the one port, all using the same engines
   * (one set of model replicas, one queue, batches that mix threads); default 1, this thread.
   */
  threads?: number;
  /**
   * A model repository: one folder per model, `<dir>/<name>/<version>/model.pt` (or `.pt2`),
   * with an optional `<dir>/<name>/config.json` holding the same fields as a model of the config
   * file (pool, inputs, constants, image) and a `version_policy`.
   */
  modelRepository?: string;
  /**
   * `none` (default): load every repository model at start and ignore later changes; `explicit`:
   * load only `loadModels` at start, then what the repository API asks; `poll`: load all, then
   * follow the repository's changes every `repositoryPollSecs`.
   */
  modelControlMode?: ModelControlMode;
  /** explicit mode: the repository models to load at start (`*`: all). */
  loadModels?: string[];
  /** poll mode: seconds between scans of the repository; default 15. */
  repositoryPollSecs?: number;
  /** Serve the gRPC form of the protocol (inference.GRPCInferenceService) on this port too. */
  grpcPort?: number;
  /** Pool options that repository models start from (their config.json's `pool` wins). */
  poolDefaults?: Omit<InferencePoolOptions, 'model'>;
}

export const serveUsage = `Usage: torchpool serve --model name=path.pt [--model ...] [options]

Serves TorchScript models over HTTP with the Open Inference Protocol (KServe v2), an image
classification route, and Prometheus metrics.

Models:
  --model <name=path>       a model to serve: a TorchScript file or a built-in name (repeatable)
  --model-repository <dir>  a model repository: <dir>/<name>/<version>/model.pt, and an optional
                            <dir>/<name>/config.json (pool, inputs, constants, image, version_policy)
  --model-control-mode <m>  none (load all at start), explicit (load with the repository API), or
                            poll (load all and follow changes on disk); default: none
  --load-model <name>       explicit mode: a repository model to load at start (repeatable; * = all)
  --repository-poll-secs <s> poll mode: seconds between scans of the repository (default: 15)
  --extension <path.so>     a library that registers operators the models need, e.g. a custom-op
                            library or libtorchtrt_runtime.so (repeatable; also TORCHPOOL_EXTENSIONS)
  --labels <name=path>      labels file (one per line) for the image route of model <name>
  --config <file.json>      per-model options: { "models": { "<name>": { "path", "pool", "inputs",
                            "constants", "image" } }, "port", "host", "limits" }
Pool (defaults for every model; the config file's "pool" wins):
  --devices <list>          cpu, cuda, all, or ids such as cuda:0,cuda:1 (default: all)
  --max-batch-size <n>      dynamic batching rows per forward, 0 turns it off (default: 32)
  --max-queue-delay <us>    how long a request may wait to fill a batch (default: 0)
  --max-queue-size <n>      queued requests before 429 (default: 256 per model)
  --precision <p>           fp32, fp16, bf16 or autocast (default: fp32)
Server:
  --host <addr>             listen address (default: 0.0.0.0)
  --port <n>                listen port (default: 8000)
  --grpc-port <n>           also serve the protocol over gRPC (inference.GRPCInferenceService) here
  --max-body-size <bytes>   largest request body, e.g. 64mb (default: 64mb)
  --max-elements <n>        most elements in one input tensor (default: 16777216)
  --request-timeout <ms>    longest wait for an engine before 504 (default: 30000)
  --drain-timeout <ms>      how long shutdown waits for in-flight requests (default: 30000)
  --threads <n|auto>        HTTP (and gRPC) threads sharing the ports and the engines; auto: half
                            the cores, at most 8 (default: auto)
  --log                     one line per request on stderr
  -h, --help                this text`;

function integer(text: string | undefined, flag: string, min: number, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) throw new ServeUsageError(`--${flag} expects an integer >= ${min}, got '${text}'`);
  return value;
}

function bytes(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const match = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(text.trim());
  if (!match) throw new ServeUsageError(`--${flag} expects bytes such as 1048576 or 64mb, got '${text}'`);
  const unit = { b: 1, kb: 2 ** 10, mb: 2 ** 20, gb: 2 ** 30 }[(match[2] ?? 'b').toLowerCase() as 'b'];
  return Number(match[1]) * unit;
}

function pairs(values: string[] | undefined, flag: string): [string, string][] {
  return (values ?? []).map((v) => {
    const eq = v.indexOf('=');
    if (eq <= 0 || eq === v.length - 1) throw new ServeUsageError(`--${flag} expects name=path, got '${v}'`);
    return [v.slice(0, eq), v.slice(eq + 1)];
  });
}

/** --threads, else the config file's "threads", else `auto` (autoThreads); at most 256. */
function threadCount(flag: string | undefined, fromFile: unknown): number {
  const given = flag ?? fromFile ?? 'auto';
  if (given === 'auto') return autoThreads();
  const value = flag !== undefined ? integer(flag, 'threads', 1, 1) : fromFile;
  if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > 256) {
    throw new ServeUsageError(`threads must be an integer between 1 and 256, got ${String(flag ?? fromFile)}`);
  }
  return value as number;
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A model's options in the config file are closed too, down to its pool and image options. */
function checkModelConfigKeys(m: object, where: string): void {
  checkConfigKeys(m, MODEL_KEYS, where);
  checkPoolAndImageKeys(m, where);
}

/** A model's `pool` and `image` (config file, or a repository model's config.json). */
export function checkPoolAndImageKeys(m: object, where: string): void {
  const { pool, image } = m as { pool?: unknown; image?: unknown };
  if (pool !== undefined && (typeof pool !== 'object' || pool === null)) throw new ServeUsageError(`${where}.pool must be an object of pool options`);
  if (pool) checkConfigKeys(pool, SERVE_POOL_KEYS, `${where}.pool`);
  if (image !== undefined && (typeof image !== 'object' || image === null)) throw new ServeUsageError(`${where}.image must be an object`);
  if (image) checkConfigKeys(image, IMAGE_KEYS, `${where}.image`);
}

function readConfigFile(file: string): { models: ModelConfig[]; rest: Record<string, unknown> } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ServeUsageError(`--config ${file}: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ServeUsageError(`--config ${file}: expected a JSON object`);
  checkConfigKeys(parsed, TOP_LEVEL_KEYS, `--config ${file}`);
  const { models = {}, ...rest } = parsed as { models?: Record<string, Omit<ModelConfig, 'name'>> };
  if (typeof models !== 'object' || models === null || Array.isArray(models)) throw new ServeUsageError(`--config ${file}: "models" must be an object of name -> options`);
  const limits = (rest as { limits?: unknown }).limits;
  if (limits !== undefined && (typeof limits !== 'object' || limits === null)) throw new ServeUsageError(`--config ${file}: "limits" must be an object`);
  if (limits) checkConfigKeys(limits, LIMIT_KEYS, `--config ${file}: limits`);
  const dir = path.dirname(path.resolve(file));
  const resolve = (p: string) => (fs.existsSync(path.resolve(dir, p)) ? path.resolve(dir, p) : p);
  return {
    models: Object.entries(models).map(([name, m]) => {
      if (typeof m !== 'object' || m === null || typeof m.path !== 'string') throw new ServeUsageError(`--config ${file}: models.${name}.path must be a string`);
      checkModelConfigKeys(m, `--config ${file}: models.${name}`);
      const image = m.image ? { ...m.image, ...(m.image.labels ? { labels: resolve(m.image.labels) } : {}) } : undefined;
      return { ...m, name, path: resolve(m.path), ...(image ? { image } : {}) };
    }),
    rest,
  };
}

const SERVE_OPTIONS = {
        model: { type: 'string', short: 'm', multiple: true },
        labels: { type: 'string', multiple: true },
        config: { type: 'string', short: 'c' },
        devices: { type: 'string', short: 'd' },
        'max-batch-size': { type: 'string' },
        'max-queue-delay': { type: 'string' },
        'max-queue-size': { type: 'string' },
        precision: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string', short: 'p' },
        'max-body-size': { type: 'string' },
        'max-elements': { type: 'string' },
        'request-timeout': { type: 'string' },
        'drain-timeout': { type: 'string' },
        threads: { type: 'string', short: 't' },
        'model-repository': { type: 'string' },
        'model-control-mode': { type: 'string' },
        'load-model': { type: 'string', multiple: true },
        'repository-poll-secs': { type: 'string' },
        'grpc-port': { type: 'string' },
        extension: { type: 'string', multiple: true },
        log: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
} as const;

/** Parses `torchpool serve` arguments; undefined for --help. Throws ServeUsageError. */
export function parseServeArgs(argv: string[]): ServeConfig | undefined {
  const v = parseFlags(argv, SERVE_OPTIONS, (message) => new ServeUsageError(message));
  if (v.help) return undefined;
  const file = v.config ? readConfigFile(v.config) : { models: [], rest: {} };
  const rest = file.rest as {
    host?: string; port?: number; limits?: Partial<ServeLimits>; drainTimeoutMs?: number; threads?: number;
    modelRepository?: string; modelControlMode?: string; loadModels?: string[]; repositoryPollSecs?: number; grpcPort?: number;
    extensions?: string[];
  };

  const defaults: Omit<InferencePoolOptions, 'model'> = {};
  if (v.devices) defaults.devices = ['all', 'cpu', 'cuda'].includes(v.devices) ? (v.devices as 'all') : v.devices.split(',');
  const maxBatch = integer(v['max-batch-size'], 'max-batch-size', 0, 32);
  defaults.batching = maxBatch > 0;
  defaults.maxBatchSize = Math.max(1, maxBatch);
  defaults.maxQueueDelayMicros = integer(v['max-queue-delay'], 'max-queue-delay', 0, 0);
  defaults.maxQueueSize = integer(v['max-queue-size'], 'max-queue-size', 1, 256);
  if (v.precision) {
    if (!['fp32', 'fp16', 'bf16', 'autocast'].includes(v.precision)) throw new ServeUsageError(`--precision expects fp32, fp16, bf16 or autocast, got '${v.precision}'`);
    defaults.precision = v.precision as 'fp32';
  }

  if (rest.extensions !== undefined && (!Array.isArray(rest.extensions) || rest.extensions.some((e) => typeof e !== 'string'))) {
    throw new ServeUsageError('"extensions" in the config file must be an array of library paths');
  }
  const configDir = path.dirname(path.resolve(v.config ?? '.'));
  const extensions = [...(rest.extensions ?? []).map((e) => path.resolve(configDir, e)), ...(v.extension ?? []).map((e) => path.resolve(e))];
  if (extensions.length > 0) defaults.extensions = extensions;

  const models = new Map<string, ModelConfig>();
  for (const m of file.models) models.set(m.name, m);
  for (const [name, p] of pairs(v.model, 'model')) models.set(name, { ...models.get(name), name, path: path.isAbsolute(p) || fs.existsSync(p) ? path.resolve(p) : p });
  for (const [name, labels] of pairs(v.labels, 'labels')) {
    const model = models.get(name);
    if (!model) throw new ServeUsageError(`--labels ${name}=...: no model named '${name}'`);
    model.image = { ...model.image, labels: path.resolve(labels) };
  }
  const repositoryDir = v['model-repository'] ?? (rest.modelRepository ? path.resolve(path.dirname(path.resolve(v.config ?? '.')), rest.modelRepository) : undefined);
  if (repositoryDir !== undefined && !fs.statSync(repositoryDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ServeUsageError(`--model-repository ${repositoryDir}: not a directory`);
  }
  if (models.size === 0 && repositoryDir === undefined) {
    throw new ServeUsageError('give at least one --model name=path, a --model-repository, or a --config file with "models"');
  }
  for (const m of models.values()) {
    if (!MODEL_NAME.test(m.name)) throw new ServeUsageError(`model name '${m.name}': use letters, digits, '_', '.', '-' (at most 128)`);
    m.pool = { ...defaults, ...m.pool };
  }
  const mode = v['model-control-mode'] ?? rest.modelControlMode ?? 'none';
  if (!['none', 'explicit', 'poll'].includes(mode)) throw new ServeUsageError(`--model-control-mode expects none, explicit or poll, got '${mode}'`);
  const loadModels = v['load-model'] ?? rest.loadModels;
  if (loadModels !== undefined && mode !== 'explicit') throw new ServeUsageError('--load-model applies to --model-control-mode explicit only');
  const pollSecs = v['repository-poll-secs'] !== undefined ? integer(v['repository-poll-secs'], 'repository-poll-secs', 1, 15) : rest.repositoryPollSecs ?? 15;
  const grpcPort = v['grpc-port'] !== undefined ? integer(v['grpc-port'], 'grpc-port', 0, 0) : rest.grpcPort;
  if (grpcPort !== undefined && (!Number.isInteger(grpcPort) || grpcPort < 0 || grpcPort > 65535)) throw new ServeUsageError(`grpc port must be 0..65535, got ${grpcPort}`);

  const port = v.port !== undefined ? integer(v.port, 'port', 0, 8000) : rest.port ?? 8000;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ServeUsageError(`port must be 0..65535, got ${port}`);
  return {
    host: v.host ?? rest.host ?? '0.0.0.0',
    port,
    models: [...models.values()],
    limits: {
      maxBodyBytes: bytes(v['max-body-size'], 'max-body-size', rest.limits?.maxBodyBytes ?? 64 * 2 ** 20),
      maxTensorElements: integer(v['max-elements'], 'max-elements', 1, rest.limits?.maxTensorElements ?? 2 ** 24),
      requestTimeoutMs: integer(v['request-timeout'], 'request-timeout', 1, rest.limits?.requestTimeoutMs ?? 30_000),
    },
    drainTimeoutMs: integer(v['drain-timeout'], 'drain-timeout', 0, rest.drainTimeoutMs ?? 30_000),
    logRequests: v.log ?? false,
    threads: threadCount(v.threads, rest.threads),
    ...(repositoryDir !== undefined ? { modelRepository: path.resolve(repositoryDir) } : {}),
    modelControlMode: mode as ModelControlMode,
    ...(loadModels !== undefined ? { loadModels } : {}),
    repositoryPollSecs: pollSecs,
    ...(grpcPort !== undefined ? { grpcPort } : {}),
    poolDefaults: defaults,
  };
}
