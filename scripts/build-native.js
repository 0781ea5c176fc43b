#!/usr/bin/env node
// Builds the native addon with cmake-js (offline: package.json "binary.napi_versions" makes it use
// node-api-headers instead of downloading Node headers). Incremental when the last configure
// succeeded with the same libtorch settings; otherwise (a failed or interrupted configure, or
// TORCHPOOL_TORCH_DIR / CMAKE_PREFIX_PATH pointing elsewhere now) it starts from a clean
// directory, so a re-run after installing libtorch just works.
//   node scripts/build-native.js [--clean] [--configure-only] [--target NAME]
// TORCHPOOL_BUILD_DIR overrides the build directory (tests); the addon loader looks in build/.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const buildDir = path.resolve(process.env.TORCHPOOL_BUILD_DIR || path.join(root, 'build'));
const stampFile = path.join(buildDir, 'torchpool-configure.json');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const jobs = String(Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length));
const log = (message) => console.error(`torchpool build: ${message}`);

const cmake = spawnSync('cmake', ['--version'], { encoding: 'utf8' });
if (cmake.error || cmake.status !== 0) {
  console.error('torchpool: cmake was not found. Install it (Debian: apt-get install cmake) and retry.');
  process.exit(1);
}

// What the configure step depends on besides the sources: where libtorch is looked for.
const settings = {
  TORCHPOOL_TORCH_DIR: process.env.TORCHPOOL_TORCH_DIR || '',
  CMAKE_PREFIX_PATH: process.env.CMAKE_PREFIX_PATH || '',
  TORCHPOOL_DEBUG_BUILD: process.env.TORCHPOOL_DEBUG_BUILD ? '1' : '',
};

function whyReconfigure() {
  if (args.includes('--clean')) return 'a clean build was asked for';
  if (!fs.existsSync(buildDir)) return '';
  const haveBuildFiles = fs.existsSync(path.join(buildDir, 'build.ninja')) || fs.existsSync(path.join(buildDir, 'Makefile'));
  let stamp;
  try {
    stamp = JSON.parse(fs.readFileSync(stampFile, 'utf8'));
  } catch {
    return haveBuildFiles ? 'no record of the settings of the last configure' : 'the last configure did not finish (failed or interrupted)';
  }
  if (!haveBuildFiles) return 'the build files are missing';
  for (const [key, value] of Object.entries(settings)) {
    if ((stamp[key] ?? '') !== value) return `${key} changed (was '${stamp[key] ?? ''}', now '${value}')`;
  }
  return '';
}

function cmakeJsRun(command, extra = []) {
  const argv = [cmakeJs, command, '--directory', root, '--out', buildDir, ...extra];
  if (settings.TORCHPOOL_DEBUG_BUILD) argv.push('--debug');
  return spawnSync(process.execPath, argv, { stdio: 'inherit', cwd: root }).status ?? 1;
}

function fail(status) {
  console.error('\ntorchpool: the native build failed. The CMake output above says which libtorch was');
  console.error('looked for; see README.md, "Building from source", for TORCHPOOL_TORCH_DIR.');
  console.error('Running the same command again after fixing it is enough: a failed configure is redone from scratch.');
  process.exit(status);
}

const reason = whyReconfigure();
const configured = fs.existsSync(stampFile) && reason === '';
if (!configured) {
  if (reason) log(`configuring from scratch: ${reason}`);
  fs.rmSync(buildDir, { recursive: true, force: true });
  const status = cmakeJsRun('configure');
  if (status !== 0) fail(status);
  fs.writeFileSync(stampFile, JSON.stringify(settings, null, 2) + '\n');
}
if (args.includes('--configure-only')) process.exit(0);

const targetAt = args.indexOf('--target');
const target = targetAt >= 0 ? ['--target', args[targetAt + 1]] : [];
const status = cmakeJsRun('build', ['--parallel', jobs, ...target]);
if (status !== 0) fail(status);
