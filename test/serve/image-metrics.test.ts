// torchpool serve: the image route (real JPEG/PNG/WebP encoded here with sharp) and /metrics.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferencePool, type OutputTensor, modelPath } from '../support/torchpool.js';
import { jsonInput, parseMetrics, post, type Running, startServer } from '../support/serve.js';

/** A 96x72 RGB gradient, encoded. */
async function image(format: 'jpeg' | 'png' | 'webp'): Promise<Buffer> {
  const width = 96;
  const height = 72;
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 255) / width;
      raw[i + 1] = (y * 255) / height;
      raw[i + 2] = 128;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).toFormat(format).toBuffer();
}

describe('torchpool serve: image route and metrics', () => {
  let s: Running;
  let labelsFile: string;
  beforeAll(async () => {
    labelsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'torchpool-labels-')), 'labels.txt');
    fs.writeFileSync(labelsFile, Array.from({ length: 1000 }, (_, i) => `label-${i}`).join('\n'));
    s = await startServer([
      { name: 'resnet', path: 'resnet18', image: { labels: labelsFile, topK: 3 } },
      { name: 'mlp', path: 'mlp' },
    ]);
  });
  afterAll(async () => { await s.server.shutdown(); });

  it('classifies a JPEG body with the same top class as the model on the preprocessed tensor', async () => {
    const jpeg = await image('jpeg');
    const response = await post(`${s.url}/predict/resnet`, jpeg, { 'content-type': 'image/jpeg' });
    expect(response.status).toBe(200);
    const body = response.json();
    expect(body.model_name).toBe('resnet');
    expect(body.predictions).toHaveLength(3);
    for (const p of body.predictions) expect(p).toEqual({ index: expect.any(Number), label: `label-${p.index}`, score: expect.any(Number) });
    const scores = body.predictions.map((p: { score: number }) => p.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    // The same preprocessing by hand (sharp resize to 64x64, ImageNet normalization) and the pool.
    const pixels = await sharp(jpeg).removeAlpha().resize(64, 64, { fit: 'cover' }).raw().toBuffer();
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const x = new Float32Array(3 * 64 * 64);
    for (let i = 0; i < 64 * 64; i++) for (let c = 0; c < 3; c++) x[c * 4096 + i] = (pixels[i * 3 + c]! / 255 - mean[c]!) / std[c]!;
    const pool = await InferencePool.create({ model: await modelPath('resnet18'), devices: 'cpu' });
    const logits = (await pool.infer<OutputTensor>({ data: x, shape: [1, 3, 64, 64] })).data as Float32Array;
    await pool.close();
    const best = logits.indexOf(Math.max(...logits));
    expect(body.predictions[0].index).toBe(best);
  });

  it('takes PNG as a multipart upload and WebP as a body, with ?topk', async () => {
    const form = new FormData();
    form.append('file', new Blob([await image('png')], { type: 'image/png' }), 'cat.png');
    const multipart = await fetch(`${s.url}/v2/models/resnet/predict?topk=5`, { method: 'POST', body: form });
    expect(multipart.status).toBe(200);
    expect(((await multipart.json()) as { predictions: unknown[] }).predictions).toHaveLength(5);
    const webp = await post(`${s.url}/predict/resnet?topk=1`, await image('webp'), { 'content-type': 'application/octet-stream' });
    expect(webp.json().predictions).toHaveLength(1);
  });

  it('rejects what is not an image, a broken image, and models without the route', async () => {
    const svg = await post(`${s.url}/predict/resnet`, '<svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/passwd"/></svg>', { 'content-type': 'image/svg+xml' });
    expect(svg.status).toBe(400);
    expect(svg.json().error).toMatch(/not a JPEG, PNG or WebP/);
    const truncated = (await image('jpeg')).subarray(0, 200);
    const broken = await post(`${s.url}/predict/resnet`, truncated, { 'content-type': 'image/jpeg' });
    expect(broken.status).toBe(400);
    expect(broken.json().error).toMatch(/cannot be decoded/);
    const noRoute = await post(`${s.url}/predict/mlp`, await image('png'), { 'content-type': 'image/png' });
    expect(noRoute.status).toBe(400);
    expect((await post(`${s.url}/predict/resnet?topk=0`, await image('png'), { 'content-type': 'image/png' })).status).toBe(400);
    expect((await post(`${s.url}/predict/nope`, await image('png'), { 'content-type': 'image/png' })).status).toBe(404);
  });

  it('exposes Triton-style metrics whose values move as requests are served', async () => {
    const scrape = async () => {
      const response = await fetch(`${s.url}/metrics`);
      expect(response.headers.get('content-type')).toMatch(/text\/plain/);
      return parseMetrics(await response.text());
    };
    const labels = '{model="mlp",version="1"}';
    const before = await scrape();
    const x = jsonInput('x', [4, 256], 'FP32', new Array(1024).fill(0.5));
    await Promise.all(Array.from({ length: 8 }, () => post(`${s.url}/v2/models/mlp/infer`, { inputs: [x] })));
    await post(`${s.url}/v2/models/mlp/infer`, { inputs: [] });
    const after = await scrape();
    const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    expect(delta(`nv_inference_request_success${labels}`)).toBe(8);
    expect(delta(`nv_inference_count${labels}`)).toBe(32);
    expect(delta('nv_inference_request_failure{model="mlp",version="1",reason="BAD_REQUEST"}')).toBe(1);
    const execs = delta(`nv_inference_exec_count${labels}`);
    expect(execs).toBeGreaterThanOrEqual(1);
    expect(execs).toBeLessThanOrEqual(8); // dynamic batching may merge the 8 requests
    expect(delta(`nv_inference_request_duration_us${labels}`)).toBeGreaterThan(0);
    expect(after.get(`nv_inference_pending_request_count${labels}`)).toBe(0);
    expect(after.get('nv_inference_queue_summary_us{model="mlp",version="1",quantile="0.5"}')).toBeGreaterThanOrEqual(0);
    expect(after.get('nv_inference_compute_infer_summary_us{model="mlp",version="1",quantile="0.99"}')).toBeGreaterThan(0);
    expect([...after.keys()].some((k) => k.startsWith('torchpool_engine_utilization{model="mlp"'))).toBe(true);
    expect(after.has('process_resident_memory_bytes')).toBe(true);
  });
});
