#!/usr/bin/env node
/**
 * `npx torchpool <command>`: `info` (what the addon was built against, which devices it sees)
 * `bench` (throughput, latency and scaling on this machine) and `serve` (an Open Inference
 * Protocol server; loaded only when asked for, so the library never pulls in the HTTP stack).
 * @module
 */
import { runBench } from './bench/index.js';
import { benchUsage, BenchUsageError, parseBenchArgs } from './bench/options.js';
import { renderMarkdown } from './bench/report.js';
import { buildInfo } from './info.js';
import { listDevices } from './devices.js';
import { TorchpoolError } from './errors.js';

const usage = `Usage: torchpool <command>

Commands:
  info [--json]   libtorch version and origin, CUDA support, and the devices torchpool can use
  bench [...]     throughput, latency and scaling of a model on this machine (bench --help)
  serve [...]     serve models over HTTP: KServe v2 protocol, image route, metrics (serve --help)
  profile [...]   record what the engines run under load: a Chrome trace and the slowest operators (profile --help)
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

async function bench(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseBenchArgs(argv);
  } catch (error) {
    if (!(error instanceof BenchUsageError)) throw error;
    console.error(`torchpool bench: ${error.message}\n\n${benchUsage}`);
    return 2;
  }
  if (!options) {
    console.log(benchUsage);
    return 0;
  }
  try {
    const { report, files } = await runBench(options, ['torchpool', 'bench', ...argv].join(' '));
    if (options.json) console.log(JSON.stringify(report, null, 2));
    else console.log(renderMarkdown(report));
    if (!options.quiet) console.error(`wrote ${files.join(', ')}`);
    return 0;
  } catch (error) {
    if (error instanceof BenchUsageError) {
      console.error(`torchpool bench: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...rest] = argv;
  if (command === 'info') {
    info(rest.includes('--json'));
    return 0;
  }
  if (command === 'bench') return bench(rest);
  if (command === 'serve') return (await import('./serve/index.js')).serveMain(rest);
  if (command === 'profile') return (await import('./profile-cli.js')).profileMain(rest);
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(usage);
    return 0;
  }
  console.error(`torchpool: unknown command '${command}'\n\n${usage}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof TorchpoolError ? `${error.code}: ${error.message}` : error);
    process.exitCode = 1;
  },
);
