#!/usr/bin/env node
// npm "install" hook: keep a prebuild (prebuilds/<platform>-<arch>/) or an earlier local build
// if it loads on this machine; otherwise build from source against the libtorch found here.
// TORCHPOOL_BUILD_FROM_SOURCE=1 (or npm's --build-from-source) always builds.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const forced = process.env.TORCHPOOL_BUILD_FROM_SOURCE === '1' || process.env.npm_config_build_from_source === 'true';

if (!forced) {
  let binary;
  try {
    binary = require('node-gyp-build').resolve(root);
  } catch {
    binary = undefined; // nothing prebuilt for this platform: build below
  }
  if (binary) {
    const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(binary)})`], { encoding: 'utf8' });
    if (probe.status === 0) process.exit(0);
    const reason = (probe.stderr || '').split('\n').find((l) => l.includes('Error')) || 'it does not load';
    console.warn(`torchpool: ${path.relative(root, binary)} cannot be used here (${reason.trim()}); building from source.`);
  }
}
const build = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], { stdio: 'inherit', cwd: root });
process.exit(build.status ?? 1);
