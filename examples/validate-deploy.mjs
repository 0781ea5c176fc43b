// Before `kubectl apply`: validate the deployment recipe against the Kubernetes API's schemas
// with kubernetes-models (npm install --save-dev kubernetes-models@4), the check CI runs.
// Run: node examples/validate-deploy.mjs [deploy/kubernetes/torchpool.yaml]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const file = process.argv[2] ?? path.join(here, '..', 'deploy', 'kubernetes', 'torchpool.yaml');
const kinds = {
  'v1/ConfigMap': async () => (await import('kubernetes-models/v1')).ConfigMap,
  'v1/Service': async () => (await import('kubernetes-models/v1')).Service,
  'apps/v1/Deployment': async () => (await import('kubernetes-models/apps/v1')).Deployment,
};
let failed = 0;
for (const doc of parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
  const object = doc.toJS();
  const kind = `${object.apiVersion}/${object.kind}`;
  const model = kinds[kind];
  if (!model) {
    console.log(`${kind} ${object.metadata?.name}: no schema here, skipped`);
    continue;
  }
  try {
    new (await model())(object).validate();
    console.log(`${kind} ${object.metadata.name}: valid`);
  } catch (error) {
    failed++;
    console.log(`${kind} ${object.metadata?.name}: ${error.message}`);
  }
}
process.exitCode = failed ? 1 : 0;
