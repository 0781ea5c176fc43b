// The model repository of `torchpool serve`: Triton's layout and version policies, the three
// model control modes, the repository API, and reloads under load that drop no request, on one
// HTTP thread and on several.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jsonInput, post, type Running, startServer } from '../support/serve.js';
import { modelPath } from '../support/torchpool.js';

let tiny: string;
let identity: string;
beforeAll(async () => {
  tiny = await modelPath('tiny');
  identity = await modelPath('identity');
});

const running: Running[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.server.shutdown()));
});

/** A repository folder: `{ name: { config?, versions: { '1': file } } }`. */
function repository(models: Record<string, { config?: unknown; versions: Record<string, string> }>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-repo-'));
  for (const [name, { config, versions }] of Object.entries(models)) {
    fs.mkdirSync(path.join(dir, name));
    if (config !== undefined) fs.writeFileSync(path.join(dir, name, 'config.json'), JSON.stringify(config));
    for (const [version, file] of Object.entries(versions)) addVersion(dir, name, version, file);
  }
  return dir;
}

function addVersion(dir: string, name: string, version: string, file: string): void {
  fs.mkdirSync(path.join(dir, name, version), { recursive: true });
  fs.copyFileSync(file, path.join(dir, name, version, 'model.pt'));
}

async function serve(dir: string, overrides: Parameters<typeof startServer>[1] = {}): Promise<Running> {
  const r = await startServer([], { modelRepository: dir, ...overrides });
  running.push(r);
  return r;
}

const x = Array.from({ length: 16 }, (_, i) => (i - 8) / 8);
const body = { inputs: [jsonInput('x', [1, 16], 'FP32', x)] };
const inferOn = async (url: string, suffix = '') => post(`${url}/v2/models/m${suffix}/infer`, body);
const index = async (url: string, ready?: boolean) => (await post(`${url}/v2/repository/index`, ready === undefined ? {} : { ready })).json() as { name: string; version?: string; state: string; reason: string }[];

describe('model repository', () => {
  it('serves the versions a version policy selects, side by side, and routes to the latest by default', async () => {
    const dir = repository({ m: { config: { version_policy: { latest: { num_versions: 2 } } }, versions: { 1: tiny, 2: identity, 3: identity } } });
    fs.rmSync(path.join(dir, 'm', '3', 'model.pt')); // a version folder without a model is no version
    const { url } = await serve(dir);
    const v1 = (await inferOn(url, '/versions/1')).json();
    const v2 = (await inferOn(url, '/versions/2')).json();
    expect(v1.model_version).toBe('1');
    expect(v2.outputs[0].data).toEqual(x); // identity
    expect(v1.outputs[0].data).not.toEqual(x);
    expect((await inferOn(url)).json().model_version).toBe('2');
    expect(((await (await fetch(`${url}/v2/models/m`)).json()) as { versions: string[] }).versions).toEqual(['1', '2']);
    expect(await index(url)).toEqual([
      { name: 'm', version: '1', state: 'READY', reason: '' },
      { name: 'm', version: '2', state: 'READY', reason: '' },
    ]);
    expect((await inferOn(url, '/versions/3')).status).toBe(404);
    expect((await post(`${url}/v2/repository/models/m/load`, {})).status).toBe(503); // control mode none
  });

  it('serves specific versions, and reads pool options and inputs from config.json', async () => {
    const dir = repository({
      m: {
        config: { version_policy: { specific: { versions: [1] } }, pool: { maxBatchSize: 4 }, inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 16] }] },
        versions: { 1: tiny, 2: identity },
      },
    });
    const { url, server } = await serve(dir);
    expect(server.models.get('m')!.version).toBe('1');
    expect(server.models.get('m')!.pool.stats().batching.maxBatchSize).toBe(4);
    const meta = await (await fetch(`${url}/v2/models/m`)).json() as { inputs: { shape: number[] }[] };
    expect(meta.inputs[0]!.shape).toEqual([-1, 16]);
    expect((await post(`${url}/v2/models/m/infer`, { inputs: [jsonInput('x', [1, 8], 'FP32', x.slice(0, 8))] })).status).toBe(400);
  });

  it('loads and unloads on request in explicit mode, and says why a load failed', async () => {
    const dir = repository({ m: { versions: { 1: tiny } }, other: { versions: { 1: identity } }, broken: { config: { colour: 'red' }, versions: { 1: tiny } } });
    const { url } = await serve(dir, { modelControlMode: 'explicit', loadModels: ['other'] });
    expect(await index(url)).toEqual([
      { name: 'broken', state: 'UNAVAILABLE', reason: 'not loaded' },
      { name: 'm', state: 'UNAVAILABLE', reason: 'not loaded' },
      { name: 'other', version: '1', state: 'READY', reason: '' },
    ]);
    expect((await inferOn(url)).status).toBe(404);
    expect((await post(`${url}/v2/repository/models/m/load`, {})).status).toBe(200);
    expect((await inferOn(url)).status).toBe(200);
    expect(await index(url, true)).toEqual([
      { name: 'm', version: '1', state: 'READY', reason: '' },
      { name: 'other', version: '1', state: 'READY', reason: '' },
    ]);
    expect((await post(`${url}/v2/repository/models/m/unload`, {})).status).toBe(200);
    expect((await inferOn(url)).status).toBe(404);
    expect((await index(url)).find((e) => e.name === 'm')).toEqual({ name: 'm', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' });

    const broken = await post(`${url}/v2/repository/models/broken/load`, {});
    expect(broken.status).toBe(400);
    expect(broken.json().error).toMatch(/config\.json: unknown option 'colour'/);
    const unknown = await post(`${url}/v2/repository/models/nope/load`, {});
    expect(unknown.status).toBe(400);
    expect(unknown.json().error).toMatch(/unknown model 'nope'/);
  });

  it('keeps the old version serving when a reload fails', async () => {
    const dir = repository({ m: { versions: { 1: tiny } } });
    const { url } = await serve(dir, { modelControlMode: 'explicit', loadModels: ['*'] });
    const before = (await inferOn(url)).json().outputs[0].data;
    fs.writeFileSync(path.join(dir, 'm', '1', 'model.pt'), 'not a model');
    const failed = await post(`${url}/v2/repository/models/m/load`, {});
    expect(failed.status).toBe(400);
    expect(failed.json().error).toMatch(/failed to load 'm'/);
    expect((await inferOn(url)).json().outputs[0].data).toEqual(before);
    const [entry] = await index(url);
    expect(entry).toMatchObject({ name: 'm', version: '1', state: 'READY' });
    expect(entry!.reason).toMatch(/load failed.*previous load keeps serving/);
  });

  for (const threads of [1, 3]) {
    it(`reloads under load without dropping a request (${threads} HTTP thread${threads > 1 ? 's' : ''})`, async () => {
      const dir = repository({ m: { versions: { 1: tiny } } });
      const { url } = await serve(dir, { modelControlMode: 'explicit', loadModels: ['m'], threads });
      let stop = false;
      const statuses = new Map<number, number>();
      const versions = new Set<string>();
      const loop = async () => {
        while (!stop) {
          const r = await inferOn(url);
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status === 200) versions.add(r.json().model_version);
        }
      };
      const loops = Array.from({ length: 16 }, loop);
      // Each reload waits for 16 more answers, not for a time: on a loaded VM a time window
      // can pass with few requests, and the point is that requests overlap every reload.
      const answered = () => [...statuses.values()].reduce((a, b) => a + b, 0);
      const answersPast = async (n: number) => { while (answered() < n) await new Promise((r) => setTimeout(r, 5)); };
      for (let i = 0; i < 4; i++) {
        await answersPast(answered() + 16);
        if (i === 2) addVersion(dir, 'm', '2', identity); // a new version appears: the reload switches to it
        expect((await post(`${url}/v2/repository/models/m/load`, {})).status).toBe(200);
      }
      await answersPast(answered() + 16);
      stop = true;
      await Promise.all(loops);
      expect([...statuses.keys()]).toEqual([200]);
      expect(statuses.get(200)).toBeGreaterThanOrEqual(80);
      expect(versions).toEqual(new Set(['1', '2']));
      expect((await index(url)).map((e) => [e.version, e.state])).toEqual([['1', 'UNAVAILABLE'], ['2', 'READY']]);
    });
  }

  it('follows the repository folder in poll mode', async () => {
    const dir = repository({ m: { versions: { 1: tiny } } });
    const { url } = await serve(dir, { modelControlMode: 'poll', repositoryPollSecs: 1 });
    addVersion(dir, 'm', '2', identity);
    fs.mkdirSync(path.join(dir, 'late'));
    addVersion(dir, 'late', '1', tiny);
    const until = async (check: () => Promise<boolean>) => {
      for (let i = 0; i < 60 && !(await check()); i++) await new Promise((r) => setTimeout(r, 100));
      expect(await check()).toBe(true);
    };
    await until(async () => (await inferOn(url)).json().model_version === '2');
    await until(async () => (await post(`${url}/v2/models/late/infer`, body)).status === 200);
    fs.rmSync(path.join(dir, 'late'), { recursive: true });
    await until(async () => (await post(`${url}/v2/models/late/infer`, body)).status === 404);
    expect((await post(`${url}/v2/repository/models/m/unload`, {})).status).toBe(503); // not in poll mode
  });
});
