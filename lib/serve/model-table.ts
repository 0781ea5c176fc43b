/**
 * Where a request goes: the served models by name and version. A request that names no version
 * goes to the latest (the highest version number; versions that are not numbers sort after
 * numbers, by name). The table is swapped entry by entry when models load, reload or unload, so
 * a request resolves against one consistent model for its whole life.
 * @module
 */
import { HttpError } from './http-error.js';
import type { ServedModel } from './models.js';

/** Orders versions: numbers numerically, then other names alphabetically. */
export function compareVersions(a: string, b: string): number {
  const na = /^\d+$/.test(a) ? Number(a) : NaN;
  const nb = /^\d+$/.test(b) ? Number(b) : NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  if (!Number.isNaN(na)) return -1;
  if (!Number.isNaN(nb)) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export class ModelTable {
  readonly #byName = new Map<string, Map<string, ServedModel>>();

  /** Adds or replaces (name, version); returns the model it replaced. */
  set(model: ServedModel): ServedModel | undefined {
    let versions = this.#byName.get(model.name);
    if (!versions) {
      versions = new Map();
      this.#byName.set(model.name, versions);
    }
    const previous = versions.get(model.version);
    versions.set(model.version, model);
    return previous;
  }

  /** Removes (name, version); returns the model it held. */
  delete(name: string, version: string): ServedModel | undefined {
    const versions = this.#byName.get(name);
    const model = versions?.get(version);
    versions?.delete(version);
    if (versions && versions.size === 0) this.#byName.delete(name);
    return model;
  }

  /** The model a request for `name` (and `version`, if it names one) goes to; HttpError 404 otherwise. */
  resolve(name: string, version?: string): ServedModel {
    const versions = this.#byName.get(name);
    if (!versions) throw new HttpError(404, `unknown model '${name}'`);
    if (version !== undefined) {
      const model = versions.get(version);
      if (!model) throw new HttpError(404, `model '${name}' has no version '${version}' (served: ${this.versions(name).join(', ')})`);
      return model;
    }
    return versions.get(this.versions(name).at(-1) as string) as ServedModel;
  }

  /** The served versions of `name`, oldest first. */
  versions(name: string): string[] {
    return [...(this.#byName.get(name)?.keys() ?? [])].sort(compareVersions);
  }

  has(name: string, version?: string): boolean {
    const versions = this.#byName.get(name);
    return versions !== undefined && (version === undefined || versions.has(version));
  }

  names(): string[] {
    return [...this.#byName.keys()].sort();
  }

  /** Every served model, by name then version. */
  all(): ServedModel[] {
    return this.names().flatMap((name) => this.versions(name).map((v) => this.#byName.get(name)!.get(v)!));
  }

  /** The latest version of each model. */
  latest(): ServedModel[] {
    return this.names().map((name) => this.resolve(name));
  }
}
