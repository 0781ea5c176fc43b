// The deployment recipes cannot run here (no cluster, no GPU node), so CI validates them against
// the Kubernetes API's own schemas (the kubernetes-models package: the OpenAPI schemas of every
// built-in kind), then checks what schemas cannot express: that they hang together (selectors,
// ports, probes, GPU resources, grace period vs drain deadline) and that the server accepts their
// configuration. KServe's InferenceService is a custom resource whose schema is not on npm: its
// metadata and predictor containers are validated as the Kubernetes objects they are.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigMap, Pod, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { parseAllDocuments } from 'yaml';
import { parseServeArgs, protoDir } from '../../dist/serve/index.js';

const root = path.resolve(__dirname, '../..');
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function load(file: string): Doc[] {
  const docs = parseAllDocuments(fs.readFileSync(path.join(root, file), 'utf8'));
  for (const d of docs) expect(d.errors, `${file}: ${d.errors.map((e) => e.message).join('; ')}`).toEqual([]);
  return docs.map((d) => d.toJS() as Doc);
}

describe('deployment recipes', () => {
  it('Kubernetes: every document is valid against the Kubernetes API schema of its kind', () => {
    const docs = load('deploy/kubernetes/torchpool.yaml');
    expect(docs.map((d) => `${d.apiVersion}/${d.kind}`)).toEqual(['v1/ConfigMap', 'apps/v1/Deployment', 'v1/Service']);
    const [configMap, deployment, service] = docs as [Doc, Doc, Doc];
    expect(() => new ConfigMap(configMap as never).validate()).not.toThrow();
    expect(() => new Deployment(deployment as never).validate()).not.toThrow();
    expect(() => new Service(service as never).validate()).not.toThrow();
    // The validator is live: the same Deployment with a port given as a string is refused.
    const broken = structuredClone(deployment);
    broken.spec.template.spec.containers[0].ports[0].containerPort = '8000';
    expect(() => new Deployment(broken as never).validate()).toThrow(/containerPort must be integer/);
  });

  it('Kubernetes: a ConfigMap the server accepts, a GPU Deployment with v2 probes and scraping, a matching Service', () => {
    const docs = load('deploy/kubernetes/torchpool.yaml');
    const [configMap, deployment, service] = docs as [Doc, Doc, Doc];

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-deploy-'));
    fs.writeFileSync(path.join(dir, 'config.json'), configMap.data['config.json']);
    const config = parseServeArgs(['--config', path.join(dir, 'config.json')])!;
    expect(config.models.map((m) => m.name)).toEqual(['resnet50']);

    const labels = deployment.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) expect(labels[k]).toBe(v);
    for (const [k, v] of Object.entries(service.spec.selector)) expect(labels[k]).toBe(v);
    const annotations = deployment.spec.template.metadata.annotations;
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(annotations['prometheus.io/path']).toBe('/metrics');
    const container = deployment.spec.template.spec.containers[0];
    expect(container.args.slice(0, 3)).toEqual(['serve', '--config', '/etc/torchpool/config.json']);
    expect(container.volumeMounts.map((m: Doc) => m.mountPath)).toContain('/etc/torchpool');
    expect(container.resources.limits['nvidia.com/gpu']).toBeGreaterThanOrEqual(1);
    expect(container.readinessProbe.httpGet.path).toBe('/v2/health/ready');
    expect(container.livenessProbe.httpGet.path).toBe('/v2/health/live');
    const port = container.ports.find((p: Doc) => p.name === 'http');
    expect(port.containerPort).toBe(config.port);
    expect(String(annotations['prometheus.io/port'])).toBe(String(config.port));
    expect(service.spec.ports[0].targetPort).toBe('http');
    // The kubelet's SIGKILL must come after the server's drain deadline and the preStop pause.
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.drainTimeoutMs + 5000);
    expect(deployment.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey).toBe('kubernetes.io/hostname');
  });

  it('KServe: a v1beta1 InferenceService whose container serves v2 on its port with GPU resources', () => {
    const [service] = load('deploy/kserve/inferenceservice.yaml') as [Doc];
    // The predictor's containers and the metadata are plain Kubernetes objects: validated as such.
    expect(() => new Pod({ metadata: service.metadata, spec: { containers: service.spec.predictor.containers } } as never).validate()).not.toThrow();
    expect(service.apiVersion).toBe('serving.kserve.io/v1beta1');
    expect(service.kind).toBe('InferenceService');
    const container = service.spec.predictor.containers[0];
    expect(container.name).toBe('kserve-container');
    const args = container.args as string[];
    expect(args[0]).toBe('serve');
    const port = Number(args[args.indexOf('--port') + 1]);
    expect(container.ports[0].containerPort).toBe(port);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready', port });
    expect(container.resources.limits['nvidia.com/gpu']).toBe('1');
    expect(container.env.find((e: Doc) => e.name === 'STORAGE_URI').value).toMatch(/^\w+:\/\//);
  });

  it('Dockerfile: builds against the image\'s libtorch and runs torchpool serve on port 8000', () => {
    const text = fs.readFileSync(path.join(root, 'deploy/Dockerfile'), 'utf8');
    expect(text).toMatch(/TORCHPOOL_TORCH_DIR=.*cmake_prefix_path/);
    expect(text).toMatch(/^EXPOSE 8000$/m);
    expect(text).toMatch(/^STOPSIGNAL SIGTERM$/m);
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(text)![1]!) as string[];
    expect(cmd.slice(0, 1)).toEqual(['serve']);
    expect(cmd[cmd.indexOf('--port') + 1]).toBe('8000');
  });

  it('Dockerfile: the image runs the packed tarball as users install it, which holds everything serve needs at run time', () => {
    // Instructions per stage, with continuation lines joined.
    const text = fs.readFileSync(path.join(root, 'deploy/Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
    const stages: string[][] = [];
    for (const line of text.split('\n')) {
      if (/^\s*(#|$)/.test(line)) continue;
      if (/^FROM /.test(line)) stages.push([]);
      stages.at(-1)?.push(line.trim());
    }
    const [build, runtime] = [stages.at(-2)!, stages.at(-1)!];
    const runs = (stage: string[]) => stage.filter((l) => l.startsWith('RUN ')).join(' && ');
    // The build stage makes the package with npm pack, the addon inside it as a prebuild.
    expect(runs(build)).toMatch(/npm run prebuildify && .*npm pack --pack-destination \/pkg/);
    // The runtime stage takes only Node, npm and the tarball from it: no dist/, build/ or node_modules of the source tree.
    const copies = runtime.filter((l) => l.startsWith('COPY '));
    expect(copies.map((l) => l.split(/\s+/)[2])).toEqual(['/usr/local/bin/node', '/usr/local/lib/node_modules/npm', '/pkg/']);
    for (const c of copies) expect(c).toMatch(/^COPY --from=build /);
    expect(runs(runtime)).toMatch(/npm install --omit=dev .*\/pkg\/torchpool-\*\.tgz/);
    expect(runs(runtime)).toMatch(/node node_modules\/torchpool\/dist\/cli\.js info/);
    expect(runtime).toContain('WORKDIR /app');
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(text)![1]!) as string[];
    expect(entrypoint).toEqual(['node', '/app/node_modules/torchpool/dist/cli.js']);

    // What the installed package reads at run time is in its `files`: the JS, the gRPC .proto
    // files (serve --grpc-port) and the prebuilt addon. (test/package/install.test.ts installs
    // the real tarball and starts serve with gRPC from it.)
    const files = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { files: string[] }).files;
    const shipped = (p: string) => files.some((f) => p === f || p.startsWith(f.endsWith('/') ? f : `${f}/`));
    expect(path.relative(root, protoDir)).toBe('proto');
    for (const needed of ['dist/cli.js', 'proto/grpc_predict_v2.proto', 'proto/model_repository.proto', 'prebuilds/linux-x64/torchpool.node']) {
      expect(shipped(needed), needed).toBe(true);
    }
  });
});

describe('scripts/export-aoti.py', () => {
  const python = '/usr/bin/python3';
  const torch = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  it.skipIf(torch.status !== 0)(`documents its flags, and refuses a PyTorch older than 2.6 with the reason [torch ${torch.stdout.trim() || 'missing'}]`, () => {
    const script = path.join(root, 'scripts', 'export-aoti.py');
    const help = spawnSync(python, [script, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const flag of ['--module', '--torchvision', '--input-shape', '--max-batch', '--precision', '--no-autotune', '--out']) expect(help.stdout).toContain(flag);
    const version = torch.stdout.trim().split('.').map(Number);
    if (version[0]! > 2 || (version[0] === 2 && version[1]! >= 6)) return; // a PyTorch that can export: nothing to refuse
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-export-'));
    const run = spawnSync(python, [script, '--torchvision', 'resnet50', '--input-shape', '3,224,224', '--out', path.join(out, 'm.pt2')], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/export-aoti\.py needs PyTorch 2\.6 or later .* this is torch 1\./);
    expect(fs.readdirSync(out)).toEqual([]);
  });
});
