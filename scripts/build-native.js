#!/usr/bin/env node
// Builds the native addon with cmake-js (offline: package.json "binary.napi_versions" makes it use
// node-api-headers instead of downloading Node headers). Incremental unless --clean is given.
'use strict';
const { spawnSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const command = process.argv.includes('--clean') ? 'rebuild' : 'build';
const jobs = String(Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length));

const cmake = spawnSync('cmake', ['--version'], { encoding: 'utf8' });
if (cmake.error || cmake.status !== 0) {
  console.error('torchpool: cmake was not found. Install it (Debian: apt-get install cmake) and retry.');
  process.exit(1);
}

const args = [cmakeJs, command, '--directory', root, '--out', path.join(root, 'build'), '--parallel', jobs];
if (process.env.TORCHPOOL_DEBUG_BUILD) args.push('--debug');
const result = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
if (result.status !== 0) {
  console.error('\ntorchpool: the native build failed. The CMake output above says which libtorch was');
  console.error('looked for; see README.md, "Building from source", for TORCHPOOL_TORCH_DIR.');
  process.exit(result.status ?? 1);
}
