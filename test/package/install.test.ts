// The package as users get it: `npm pack`, then `npm install <tarball>` into an empty project.
// The install builds the addon from source, exactly as a user's does (no prebuild ships), so a
// file the build needs but `files` leaves out fails here. This costs one native build (about
// 1.5 minutes on the 2-core CI machine); the times are printed.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-package-'));
const project = path.join(work, 'app');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
// Downloads come from npm's cache when the checkout's `npm ci` already fetched them.
const npmEnv = { ...process.env, npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
// The built-in model the quick start generates goes to a temporary folder, not the user's cache.
const runEnv = { ...process.env, TORCHPOOL_CACHE_DIR: path.join(work, 'cache') };

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = npmEnv, timeout = 600_000): SpawnSyncReturns<string> & { seconds: number } {
  const start = performance.now();
  const child = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  const seconds = (performance.now() - start) / 1000;
  const output = `${child.stdout ?? ''}${child.stderr ?? ''}`;
  if (child.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${child.status ?? child.signal}:\n${output.slice(-6000)}`);
  return { ...child, seconds };
}

let tarball = '';
let installOutput = '';
let packedFiles: string[] = [];

beforeAll(() => {
  const packed = run(npm, ['pack', '--json', '--pack-destination', work], root);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as [{ filename: string; size: number; unpackedSize: number; files: { path: string }[] }];
  tarball = path.join(work, info.filename);
  packedFiles = info.files.map((f) => f.path);
  console.log(`package: ${info.filename}, ${(info.size / 1024).toFixed(0)} KiB packed, ${(info.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${packedFiles.length} files (npm pack ${packed.seconds.toFixed(1)} s)`);

  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }, null, 2));
  const installed = run(npm, ['install', tarball, 'typescript@~5.9.3', '@types/node@^20.19.0'], project);
  installOutput = `${installed.stdout}${installed.stderr}`;
  console.log(`npm install of the tarball (native build included): ${installed.seconds.toFixed(1)} s`);
}, 900_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('the packed package', () => {
  it('holds what the build and the CLI need, and no tests, benchmarks or fixtures', () => {
    for (const needed of ['package.json', 'README.md', 'CMakeLists.txt', 'scripts/install.js', 'scripts/build-native.js', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/cli.js', 'native/addon.cc', 'proto/grpc_predict_v2.proto', 'scripts/export-aoti.py']) {
      expect(packedFiles, needed).toContain(needed);
    }
    const allowed = /^(package\.json|README\.md|LICENSE|CMakeLists\.txt|dist\/.+|native\/.+\.(cc|h)|proto\/.+\.proto|scripts\/(install|build-native)\.js|scripts\/export-aoti\.py|scripts\/cmake\/.+\.cmake|prebuilds\/.+)$/;
    expect(packedFiles.filter((f) => !allowed.test(f))).toEqual([]);
    expect(packedFiles.filter((f) => /(^|\/)(test|bench|fixtures|examples)\/|\.(pt|pt2|onnx|json)$/.test(f) && f !== 'package.json' && !f.startsWith('dist/'))).toEqual([]);
  });

  it('installs without engine warnings, builds the addon, and says which libtorch it took', () => {
    expect(installOutput).not.toMatch(/EBADENGINE/);
    expect(installOutput).not.toMatch(/npm (warn|error) deprecated torchpool/);
    const pkg = path.join(project, 'node_modules', 'torchpool');
    expect(fs.readdirSync(path.join(pkg, 'build', 'Release')).some((f) => f.endsWith('.node'))).toBe(true);
  });

  it('runs the quick start through ESM import', () => {
    const quickStart = fs.readFileSync(path.join(root, 'examples', 'quick-start.mjs'), 'utf8');
    fs.writeFileSync(path.join(project, 'quick-start.mjs'), quickStart);
    const child = run(process.execPath, ['quick-start.mjs'], project, runEnv, 120_000);
    expect(child.stdout).toMatch(/float32 \[ 2, 10 \]/);
  });

  it('loads through require() from CommonJS, the same classes as ESM', () => {
    const script = [
      "const torchpool = require('torchpool');",
      "const serve = require('torchpool/serve');",
      "if (typeof torchpool.InferencePool.create !== 'function') throw new Error('no InferencePool');",
      "if (typeof serve.serveMain !== 'function') throw new Error('no serveMain');",
      "import('torchpool').then((esm) => { if (esm.InferencePool !== torchpool.InferencePool) throw new Error('two copies'); console.log('cjs ok', torchpool.buildInfo().torchVersion); });",
    ].join('\n');
    fs.writeFileSync(path.join(project, 'check.cjs'), script);
    const child = run(process.execPath, ['check.cjs'], project, runEnv, 60_000);
    expect(child.stdout).toMatch(/^cjs ok \d+\.\d+/m);
  });

  it('type-checks a strict TypeScript program against the shipped types (moduleResolution nodenext)', () => {
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: false, types: ['node'] }, files: ['main.mts'] }),
    );
    fs.writeFileSync(
      path.join(project, 'main.mts'),
      [
        "import { InferencePool, TorchpoolError, ErrorCodes, type InferencePoolOptions, type OutputTensor, type PoolStats } from 'torchpool';",
        "import { serveMain } from 'torchpool/serve';",
        "const options: InferencePoolOptions = { model: 'model.pt', maxBatchSize: 8, devices: 'cpu' };",
        'const pool = await InferencePool.create(options);',
        "const out = await pool.infer<OutputTensor<'float32'>>({ data: new Float32Array(4), shape: [1, 4] });",
        'const first: number | undefined = out.data[0];',
        'const stats: PoolStats = pool.stats();',
        'console.log(first, stats.engines.length, ErrorCodes.INVALID_ARG, serveMain);',
        'try { await pool.close(); } catch (error) { if (error instanceof TorchpoolError) console.log(error.code); }',
      ].join('\n'),
    );
    run(process.execPath, [path.join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], project, runEnv, 120_000);
  });

  it('runs `npx torchpool info`', () => {
    const child = run(npm, ['exec', '--no', '--', 'torchpool', 'info'], project, runEnv, 60_000);
    expect(child.stdout).toMatch(/^libtorch \d+\.\d+\.\d+ \(.+\), CUDA (compiled in|not compiled in)/m);
    expect(child.stdout).toMatch(/^cpu /m);
  });
  it('serves HTTP and gRPC from the installed files (the .proto files ship with it)', async () => {
    const cli = path.join(project, 'node_modules', 'torchpool', 'dist', 'cli.js');
    const child = spawn(process.execPath, [cli, 'serve', '--model', 'mlp=mlp', '--devices', 'cpu', '--host', '127.0.0.1', '--port', '0', '--grpc-port', '0'], { cwd: project, env: runEnv });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    for (let waited = 0; !/gRPC on .*:\d+/.test(output) && child.exitCode === null && waited < 60_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const http = /listening on (http:\/\/[\d.]+:\d+)/.exec(output)?.[1];
    const ready = http === undefined ? undefined : (await fetch(`${http}/v2/health/ready`)).status;
    child.kill('SIGTERM');
    expect(await exited, output).toBe(0);
    expect(output).toMatch(/gRPC on [\d.]+:\d+/);
    expect(ready).toBe(200);
  });

  it('records the approval npm asks for (allowScripts) with `npm install-scripts approve torchpool`', () => {
    run(npm, ['install-scripts', 'approve', 'torchpool'], project);
    const manifest = JSON.parse(fs.readFileSync(path.join(project, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    // Keyed by what npm resolved: `torchpool@<version>` from the registry, the file here.
    expect(Object.entries(manifest.allowScripts ?? {}).filter(([name, allowed]) => name.includes('torchpool') && allowed)).toHaveLength(1);
  });

  it('says how to fix it when the install script did not run', () => {
    const skipped = path.join(work, 'no-scripts');
    fs.mkdirSync(skipped);
    fs.writeFileSync(path.join(skipped, 'package.json'), JSON.stringify({ name: 'no-scripts', version: '1.0.0', private: true }));
    run(npm, ['install', '--ignore-scripts', tarball], skipped);
    const child = spawnSync(process.execPath, ['-e', "require('torchpool').listDevices()"], { cwd: skipped, env: runEnv, encoding: 'utf8' });
    expect(child.status).not.toBe(0);
    expect(child.stderr).toContain('ERR_TORCHPOOL_NATIVE_LOAD');
    expect(child.stderr).toMatch(/install script did not run/);
    expect(child.stderr).toContain('npm rebuild torchpool');

    // A prebuild that matches the machine's libtorch needs no install script: the addon built
    // above, placed where prebuildify puts it, loads as it is, and the install script keeps it.
    const installed = path.join(skipped, 'node_modules', 'torchpool');
    const built = path.join(project, 'node_modules', 'torchpool', 'build', 'Release', 'torchpool.node');
    fs.mkdirSync(path.join(installed, 'prebuilds', 'linux-x64'), { recursive: true });
    fs.copyFileSync(built, path.join(installed, 'prebuilds', 'linux-x64', 'torchpool.node'));
    const loaded = run(process.execPath, ['-e', "console.log(require('torchpool').listDevices()[0].id)"], skipped, runEnv, 60_000);
    expect(loaded.stdout.trim()).toBe('cpu');
    const script = run(process.execPath, [path.join(installed, 'scripts', 'install.js')], installed, runEnv, 60_000);
    expect(fs.existsSync(path.join(installed, 'build')), `${script.stdout}${script.stderr}`).toBe(false);
  });
});
