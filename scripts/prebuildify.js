#!/usr/bin/env node
// npm run prebuildify: builds prebuilds/<platform>-<arch>/torchpool.node for this machine's
// libtorch, which node-gyp-build then prefers over building on install.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const env = { ...process.env, PREBUILD_NODE_GYP: path.join(__dirname, 'prebuildify-shim.js') };
const bin = require.resolve('prebuildify/bin.js');
const result = spawnSync(process.execPath, [bin, '--napi', '--strip', '--name', 'torchpool'], { stdio: 'inherit', cwd: root, env });
process.exit(result.status ?? 1);
