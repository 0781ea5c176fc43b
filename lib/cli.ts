#!/usr/bin/env node
/**
 * `npx torchpool <command>`. For now: `info` (what the addon was built against, which devices it
 * sees). `bench` and `serve` come with their issues.
 * @module
 */
import { buildInfo } from './info.js';
import { listDevices } from './devices.js';
import { TorchpoolError } from './errors.js';

const usage = `Usage: torchpool <command>

Commands:
  info [--json]   libtorch version and origin, CUDA support, and the devices torchpool can use
  help            this text`;

function info(json: boolean): void {
  const build = buildInfo();
  const devices = listDevices();
  if (json) {
    console.log(JSON.stringify({ build, devices }, null, 2));
    return;
  }
  console.log(`libtorch ${build.torchVersion} (${build.torchOrigin}), CUDA ${build.cuda ? 'compiled in' : 'not compiled in'}, N-API ${build.napiVersion}`);
  for (const d of devices) {
    const memory = `${(d.totalMemory / 2 ** 30).toFixed(1)} GiB total, ${(d.freeMemory / 2 ** 30).toFixed(1)} GiB free`;
    const extra = d.type === 'cpu' ? `${d.cores} cores` : `sm ${d.computeCapability}, ${d.cores} SMs`;
    console.log(`${d.id.padEnd(8)} ${d.name}: ${extra}, ${memory}`);
  }
}

function main(argv: string[]): number {
  const [command = 'help', ...rest] = argv;
  if (command === 'info') {
    info(rest.includes('--json'));
    return 0;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(usage);
    return 0;
  }
  console.error(`torchpool: unknown command '${command}'\n\n${usage}`);
  return 2;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof TorchpoolError ? `${error.code}: ${error.message}` : error);
  process.exitCode = 1;
}
