/**
 * The on-disk layout of a model repository (Triton's), read without loading anything:
 *
 * ```
 * <repository>/<model name>/config.json          optional: pool, inputs, constants, image,
 *                                                version_policy, default_model_filename
 * <repository>/<model name>/<version>/model.pt   TorchScript (or model.pt2, an AOTInductor package)
 * ```
 *
 * Versions are folder names made of digits (`1`, `2`, `10`; names with a leading zero and other
 * names are ignored, as Triton does). Each version and the config carry a fingerprint (size and
 * modification time), so poll mode can tell what changed.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkConfigKeys, checkPoolAndImageKeys, type ModelConfig, type VersionPolicy } from './config.js';

/** What a repository model's config.json may hold. */
export type RepositoryModelConfig = Omit<ModelConfig, 'name' | 'path' | 'version'> & {
  /** The model file in each version folder; default model.pt, else model.pt2. */
  default_model_filename?: string;
};

export interface RepositoryVersion {
  version: string;
  file: string;
  fingerprint: string;
}

export interface RepositoryModel {
  name: string;
  dir: string;
  config: RepositoryModelConfig;
  configFingerprint: string;
  /** Every version on disk, oldest first. */
  versions: RepositoryVersion[];
  /** Set when the folder cannot be served as it is (a broken config.json). */
  error?: string;
}

export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const VERSION = /^(0|[1-9]\d{0,17})$/;
const CONFIG_FIELDS = new Set(['pool', 'inputs', 'constants', 'image', 'version_policy', 'default_model_filename']);

function fingerprint(file: string): string | undefined {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  return stat?.isFile() ? `${stat.size}:${stat.mtimeMs}` : undefined;
}

/** Checks a version policy; returns an error message or undefined. */
export function checkVersionPolicy(policy: unknown): string | undefined {
  if (policy === undefined) return undefined;
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy) || Object.keys(policy).length !== 1) {
    return 'version_policy must be one of { "latest": { "num_versions": N } }, { "all": {} }, { "specific": { "versions": [...] } }';
  }
  const p = policy as Record<string, { num_versions?: unknown; versions?: unknown }>;
  if ('latest' in p) {
    const n = p.latest?.num_versions;
    if (n !== undefined && (!Number.isSafeInteger(n) || (n as number) < 1)) return 'version_policy.latest.num_versions must be an integer >= 1';
    return undefined;
  }
  if ('all' in p) return undefined;
  if ('specific' in p) {
    const versions = p.specific?.versions;
    if (!Array.isArray(versions) || versions.length === 0 || versions.some((v) => !Number.isSafeInteger(v) || v < 0)) {
      return 'version_policy.specific.versions must be a non-empty array of version numbers';
    }
    return undefined;
  }
  return `version_policy: unknown policy '${Object.keys(p)[0]}' (latest, all or specific)`;
}

/** Reads and checks `<dir>/config.json`; {} when there is none. */
function readConfig(dir: string): { config: RepositoryModelConfig; error?: string } {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) return { config: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    return { config: {}, error: `config.json: ${(error as Error).message}` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { config: {}, error: 'config.json: expected a JSON object' };
  try {
    checkConfigKeys(parsed, [...CONFIG_FIELDS], 'config.json');
    checkPoolAndImageKeys(parsed, 'config.json');
  } catch (error) {
    return { config: {}, error: (error as Error).message };
  }
  const config = parsed as RepositoryModelConfig;
  const policyError = checkVersionPolicy(config.version_policy);
  if (policyError) return { config: {}, error: `config.json: ${policyError}` };
  if (config.default_model_filename !== undefined && (typeof config.default_model_filename !== 'string' || config.default_model_filename.includes('/'))) {
    return { config: {}, error: 'config.json: default_model_filename must be a file name' };
  }
  // Labels are relative to the model's folder.
  if (config.image?.labels && !path.isAbsolute(config.image.labels)) config.image = { ...config.image, labels: path.join(dir, config.image.labels) };
  return { config };
}

/** One model folder of the repository. */
export function scanModel(repository: string, name: string): RepositoryModel | undefined {
  const dir = path.join(repository, name);
  if (!MODEL_NAME.test(name) || !fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return undefined;
  const { config, error } = readConfig(dir);
  const versions: RepositoryVersion[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !VERSION.test(entry.name)) continue;
    const candidates = config.default_model_filename ? [config.default_model_filename] : ['model.pt', 'model.pt2'];
    for (const candidate of candidates) {
      const file = path.join(dir, entry.name, candidate);
      const print = fingerprint(file);
      if (print) {
        versions.push({ version: entry.name, file, fingerprint: print });
        break;
      }
    }
  }
  versions.sort((a, b) => Number(a.version) - Number(b.version));
  return {
    name,
    dir,
    config,
    configFingerprint: fingerprint(path.join(dir, 'config.json')) ?? '',
    versions,
    ...(error ? { error } : {}),
  };
}

/** Every model folder of the repository, by name. */
export function scanRepository(repository: string): Map<string, RepositoryModel> {
  const models = new Map<string, RepositoryModel>();
  for (const entry of fs.readdirSync(repository, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const model = scanModel(repository, entry.name);
    if (model) models.set(model.name, model);
  }
  return models;
}

/** The versions a policy serves, oldest first. */
export function selectVersions(versions: RepositoryVersion[], policy: VersionPolicy | undefined): RepositoryVersion[] {
  if (!policy || 'latest' in policy) {
    const n = (policy && 'latest' in policy ? policy.latest.num_versions : undefined) ?? 1;
    return versions.slice(Math.max(0, versions.length - n));
  }
  if ('all' in policy) return versions;
  const wanted = new Set(policy.specific.versions.map(String));
  return versions.filter((v) => wanted.has(v.version));
}
