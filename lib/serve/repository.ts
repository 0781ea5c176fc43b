/**
 * The control plane of `torchpool serve`: which models and versions are served, and how they
 * change while the server runs (Triton's model repository and model control modes).
 *
 * Models come from `--model` / the config file (fixed ones, version "1" unless the config says
 * otherwise) and from a model repository (`--model-repository`, see repository-layout.ts). The
 * repository API loads, reloads and unloads them; poll mode follows the folder.
 *
 * Reloads drop no request: the new pools are loaded and warmed beside the old ones, then the
 * routing switches (on every HTTP thread, through {@link TableSync}), and only then do the old
 * pools close, after running what was queued on them. A load that fails leaves the old version
 * serving and reports why. Operations on one model run one at a time.
 * @module
 */
import type { ModelConfig, ServeConfig } from './config.js';
import { HttpError } from './http-error.js';
import { ModelTable } from './model-table.js';
import { ServedModel } from './models.js';
import { type RepositoryModel, scanModel, scanRepository, selectVersions } from './repository-layout.js';

/** Triton's model states. */
export type ModelState = 'READY' | 'LOADING' | 'UNLOADING' | 'UNAVAILABLE';

/** One entry of the repository index (`POST /v2/repository/index`). */
export interface ModelIndexEntry {
  name: string;
  version?: string;
  state: ModelState;
  reason: string;
}

/**
 * Keeps the other HTTP threads' routing in step with this thread's table. `publish` resolves
 * once every thread routes to `add` and no thread uses the models it replaced or `remove` any
 * more (their requests in flight answered).
 */
export interface TableSync {
  publish(add: ServedModel[], remove: { name: string; version: string }[]): Promise<void>;
}

const noOtherThreads: TableSync = { publish: async () => undefined };

const log = (message: string) => process.stderr.write(`torchpool serve: ${message}\n`);

export class ModelRepository {
  /** The models this thread owns, as requests are routed to them. */
  readonly table = new ModelTable();
  readonly mode: NonNullable<ServeConfig['modelControlMode']>;
  readonly #config: ServeConfig;
  readonly #fixed = new Map<string, ModelConfig>();
  readonly #states = new Map<string, Map<string, { state: ModelState; reason: string }>>();
  /** A model whose last load failed before any version served: why. */
  readonly #failures = new Map<string, string>();
  /** What was loaded from the repository, to notice changes (poll mode). */
  readonly #loadedFrom = new Map<string, { config: string; versions: Map<string, string> }>();
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Poll mode: the repository state at which a model last failed to load. */
  readonly #failedAt = new Map<string, string>();
  #sync: TableSync = noOtherThreads;
  #poller: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #closed = false;

  constructor(config: ServeConfig) {
    this.#config = config;
    this.mode = config.modelControlMode ?? 'none';
    for (const m of config.models) this.#fixed.set(m.name, m);
  }

  /** Threads other than this one that route requests (serve --threads). */
  setSync(sync: TableSync): void {
    this.#sync = sync;
  }

  /** Loads what the control mode says to load at start. A failure is fatal, as in Triton by default. */
  async start(): Promise<void> {
    const names = new Set(this.#fixed.keys());
    const repository = this.#config.modelRepository;
    if (repository) {
      const onDisk = [...scanRepository(repository).keys()];
      for (const name of onDisk) {
        if (this.#fixed.has(name)) throw new Error(`model '${name}' is both in the repository and given with --model / the config file`);
      }
      if (this.mode === 'explicit') {
        for (const name of this.#config.loadModels ?? []) {
          if (name === '*') onDisk.forEach((n) => names.add(n));
          else if (onDisk.includes(name)) names.add(name);
          else throw new Error(`--load-model ${name}: no such model in ${repository}`);
        }
      } else {
        onDisk.forEach((n) => names.add(n));
      }
    }
    const results = await Promise.allSettled([...names].map((name) => this.#load(name)));
    const failure = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failure) {
      await this.close();
      throw failure.reason;
    }
    if (this.mode === 'poll' && repository) {
      this.#poller = setInterval(() => { this.#polling ??= this.poll().finally(() => { this.#polling = undefined; }); }, (this.#config.repositoryPollSecs ?? 15) * 1000);
      this.#poller.unref();
    }
  }

  /** Every model the server knows, with its versions and their states. */
  index(readyOnly = false): ModelIndexEntry[] {
    const names = new Set([...this.#fixed.keys(), ...this.#states.keys(), ...this.#failures.keys()]);
    if (this.#config.modelRepository) for (const name of scanRepository(this.#config.modelRepository).keys()) names.add(name);
    const entries: ModelIndexEntry[] = [];
    for (const name of [...names].sort()) {
      const versions = this.#states.get(name);
      if (versions && versions.size > 0) {
        for (const [version, { state, reason }] of [...versions].sort((a, b) => Number(a[0]) - Number(b[0]) || (a[0] < b[0] ? -1 : 1))) {
          entries.push({ name, version, state, reason });
        }
      } else {
        entries.push({ name, state: 'UNAVAILABLE', reason: this.#failures.get(name) ?? 'not loaded' });
      }
    }
    return readyOnly ? entries.filter((e) => e.state === 'READY') : entries;
  }

  /** The repository API's load: loads or reloads `name`. Only in explicit mode. */
  async load(name: string): Promise<void> {
    this.#assertExplicit();
    this.#assertKnown(name);
    await this.#load(name);
  }

  /** The repository API's unload: every version of `name`, after their requests finish. */
  async unload(name: string): Promise<void> {
    this.#assertExplicit();
    this.#assertKnown(name);
    await this.#unload(name, 'unloaded');
  }

  /** Poll mode: follows the repository folder (new, changed and removed models and versions). */
  async poll(): Promise<void> {
    const repository = this.#config.modelRepository;
    if (!repository || this.#closed) return;
    const onDisk = scanRepository(repository);
    for (const [name, model] of onDisk) {
      const before = this.#loadedFrom.get(name);
      const wanted = selectVersions(model.versions, model.config.version_policy);
      const print = `${model.configFingerprint}|${wanted.map((v) => `${v.version}=${v.fingerprint}`).join(',')}`;
      const changed = !before || before.config !== model.configFingerprint || wanted.length !== before.versions.size ||
        wanted.some((v) => before.versions.get(v.version) !== v.fingerprint);
      // A model that failed to load is tried again only once its files change.
      if (!changed || this.#failedAt.get(name) === print) continue;
      await this.#load(name).then(
        () => this.#failedAt.delete(name),
        (error: Error) => {
          this.#failedAt.set(name, print);
          log(`poll: ${name}: ${error.message.split('\n')[0]}`);
        },
      );
    }
    for (const name of this.#loadedFrom.keys()) {
      if (!onDisk.has(name)) await this.#unload(name, 'removed from the repository').catch((error: Error) => log(`poll: ${name}: ${error.message}`));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#poller) clearInterval(this.#poller);
    await this.#polling;
    await Promise.all([...this.#locks.values()].map((p) => p.catch(() => undefined)));
    await Promise.all(this.table.all().map((m) => m.pool.close()));
  }

  #assertExplicit(): void {
    if (this.mode !== 'explicit') {
      throw new HttpError(503, `explicit model load / unload is not allowed in model control mode '${this.mode}' (start the server with --model-control-mode explicit)`);
    }
  }

  #assertKnown(name: string): void {
    const inRepository = this.#config.modelRepository ? scanModel(this.#config.modelRepository, name) !== undefined : false;
    if (!this.#fixed.has(name) && !inRepository && !this.table.has(name)) throw new HttpError(400, `unknown model '${name}': it is neither in the repository nor given on the command line`);
  }

  /** Runs `work` after every earlier operation on `name`. */
  #serialized<T>(name: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(name) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.#locks.set(name, next);
    void next.catch(() => undefined).then(() => { if (this.#locks.get(name) === next) this.#locks.delete(name); });
    return next;
  }

  #setState(name: string, version: string, state: ModelState, reason = ''): void {
    let versions = this.#states.get(name);
    if (!versions) this.#states.set(name, (versions = new Map()));
    versions.set(version, { state, reason });
  }

  /** The configs of the versions `name` should serve now. */
  #wanted(name: string): { configs: ModelConfig[]; source?: RepositoryModel } {
    const fixed = this.#fixed.get(name);
    if (fixed) return { configs: [{ ...fixed, version: fixed.version ?? '1' }] };
    const repository = this.#config.modelRepository;
    const model = repository ? scanModel(repository, name) : undefined;
    if (!model) throw new HttpError(400, `unknown model '${name}'`);
    if (model.error) throw new HttpError(400, `model '${name}': ${model.error}`);
    const versions = selectVersions(model.versions, model.config.version_policy);
    if (versions.length === 0) {
      throw new HttpError(400, `model '${name}': no version to serve in ${model.dir} (version folders with a model.pt or model.pt2${model.config.version_policy ? ', as its version_policy selects' : ''})`);
    }
    const { version_policy: _policy, default_model_filename: _file, ...rest } = model.config;
    void _policy;
    void _file;
    const configs = versions.map((v): ModelConfig => ({
      ...rest,
      name,
      path: v.file,
      version: v.version,
      pool: { ...this.#config.poolDefaults, ...rest.pool },
    }));
    return { configs, source: model };
  }

  #load(name: string): Promise<void> {
    return this.#serialized(name, async () => {
      if (this.#closed) throw new HttpError(503, 'the server is shutting down');
      let wanted: { configs: ModelConfig[]; source?: RepositoryModel };
      try {
        wanted = this.#wanted(name);
      } catch (error) {
        if (this.table.versions(name).length === 0) this.#failures.set(name, (error as Error).message);
        throw error;
      }
      const serving = this.table.versions(name);
      for (const c of wanted.configs) if (!serving.includes(c.version!)) this.#setState(name, c.version!, 'LOADING');
      // Load and warm every wanted version beside what serves now.
      const loaded = await Promise.allSettled(wanted.configs.map((c) => ServedModel.load(c)));
      const failed = loaded.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed) {
        await Promise.all(loaded.map((r) => (r.status === 'fulfilled' ? r.value.pool.close() : undefined)));
        const reason = `load failed: ${(failed.reason as Error).message.split('\n')[0]}`;
        for (const c of wanted.configs) {
          if (serving.includes(c.version!)) this.#setState(name, c.version!, 'READY', `${reason}; the previous load keeps serving`);
          else this.#setState(name, c.version!, 'UNAVAILABLE', reason);
        }
        if (serving.length === 0) this.#failures.set(name, reason);
        throw new HttpError(400, `failed to load '${name}': ${(failed.reason as Error).message.split('\n')[0]}`);
      }
      const fresh = loaded.map((r) => (r as PromiseFulfilledResult<ServedModel>).value);
      const keep = new Set(fresh.map((m) => m.version));
      const dropped = serving.filter((v) => !keep.has(v));
      // Switch every thread's routing, then let the old pools finish what they hold.
      await this.#sync.publish(fresh, dropped.map((version) => ({ name, version })));
      const old: ServedModel[] = [];
      for (const model of fresh) {
        const previous = this.table.set(model);
        if (previous) old.push(previous);
        this.#setState(name, model.version, 'READY');
      }
      for (const version of dropped) {
        const previous = this.table.delete(name, version);
        if (previous) old.push(previous);
        this.#setState(name, version, 'UNLOADING');
      }
      this.#failures.delete(name);
      if (wanted.source) {
        this.#loadedFrom.set(name, {
          config: wanted.source.configFingerprint,
          versions: new Map(selectVersions(wanted.source.versions, wanted.source.config.version_policy).map((v) => [v.version, v.fingerprint])),
        });
      }
      await Promise.all(old.map((m) => m.pool.close({ drain: true })));
      for (const version of dropped) this.#setState(name, version, 'UNAVAILABLE', 'no longer selected by the version policy');
    });
  }

  #unload(name: string, reason: string): Promise<void> {
    return this.#serialized(name, async () => {
      const versions = this.table.versions(name);
      for (const version of versions) this.#setState(name, version, 'UNLOADING');
      await this.#sync.publish([], versions.map((version) => ({ name, version })));
      const old = versions.map((version) => this.table.delete(name, version)).filter((m): m is ServedModel => m !== undefined);
      this.#loadedFrom.delete(name);
      await Promise.all(old.map((m) => m.pool.close({ drain: true })));
      for (const version of versions) this.#setState(name, version, 'UNAVAILABLE', reason);
    });
  }
}
