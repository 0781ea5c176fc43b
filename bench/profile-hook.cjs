// Preloaded into a `torchpool serve` child by bench/serve-profile.mjs (node --require): starts
// and stops V8's CPU profiler of the main thread when the parent says so over IPC, so the profile
// covers exactly the measured window. Replies with the profile's path.
'use strict';
const fs = require('node:fs');
const inspector = require('node:inspector');

const session = new inspector.Session();
session.connect();
const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));

// The IPC channel must not keep the server alive once it has shut down.
process.channel?.unref();

process.on('message', async (message) => {
  if (message.type === 'start') {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 100 });
    await post('Profiler.start');
    process.send({ type: 'started' });
  } else if (message.type === 'stop') {
    const { profile } = await post('Profiler.stop');
    fs.writeFileSync(message.file, JSON.stringify(profile));
    process.send({ type: 'stopped', file: message.file });
  }
});
