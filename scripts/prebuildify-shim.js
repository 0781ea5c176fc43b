#!/usr/bin/env node
// prebuildify only knows node-gyp; it runs this instead (PREBUILD_NODE_GYP) and then collects
// build/Release/*.node. The node-gyp arguments it passes do not apply to cmake-js.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const result = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js'), '--clean'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
