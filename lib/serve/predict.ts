/**
 * The image classification route: a JPEG, PNG or WebP upload is decoded and resized with sharp
 * (libvips), normalized per channel, run through the model, and answered with the top-k labels.
 * sharp is an optional dependency, loaded on first use.
 * @module
 */
import type { InferOptions } from '../request-control.js';
import type { OutputTensor, Tensor } from '../tensor.js';
import { HttpError } from './http-error.js';
import { type ServedModel, nameOutputs } from './models.js';

type Sharp = typeof import('sharp');
let sharpModule: Promise<Sharp> | undefined;

async function loadSharp(): Promise<Sharp> {
  sharpModule ??= import('sharp').then((m) => ((m as { default?: Sharp }).default ?? (m as unknown as Sharp)));
  try {
    return await sharpModule;
  } catch {
    sharpModule = undefined;
    throw new HttpError(501, 'the image route needs the optional dependency sharp (npm install sharp)');
  }
}

/** Only raster formats with a known signature: SVG and friends could reference other files. */
function imageFormat(bytes: Buffer): 'jpeg' | 'png' | 'webp' | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return undefined;
}

export interface Prediction {
  index: number;
  label: string;
  score: number;
}

/** NCHW float32 of one image: resized to the model's size (cover, centre crop), normalized. */
export async function imageTensor(bytes: Buffer, image: NonNullable<ServedModel['image']>): Promise<Tensor> {
  if (!imageFormat(bytes)) throw new HttpError(400, 'the upload is not a JPEG, PNG or WebP image');
  const sharp = await loadSharp();
  const [height, width] = image.size;
  let pixels: Buffer;
  try {
    pixels = await sharp(bytes, { failOn: 'error', limitInputPixels: 100_000_000 })
      .rotate() // honour EXIF orientation
      .removeAlpha()
      .toColourspace('srgb')
      .resize(width, height, { fit: 'cover' })
      .raw()
      .toBuffer();
  } catch (error) {
    throw new HttpError(400, `the image cannot be decoded: ${(error as Error).message}`);
  }
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) data[c * plane + i] = (pixels[i * 3 + c]! / 255 - image.mean[c]!) / image.std[c]!;
  }
  return { data, shape: [1, 3, height, width], dtype: 'float32' };
}

/** Softmax over the first output's classes, the `topK` best with their labels. */
export function topClasses(output: OutputTensor, labels: string[], topK: number): Prediction[] {
  if (output.dtype !== 'float32' && output.dtype !== 'float64') throw new HttpError(500, `the model returned ${output.dtype} scores; the image route needs float logits`);
  const scores = output.data as Float32Array;
  const classes = output.shape.at(-1) ?? scores.length;
  const logits = Array.from(scores.subarray(0, classes));
  const max = Math.max(...logits);
  const exps = logits.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps
    .map((e, index) => ({ index, label: labels[index] ?? `class_${index}`, score: e / sum }))
    .sort((a, b) => b.score - a.score)
    .slice(0, topK);
}

export async function classify(model: ServedModel, bytes: Buffer, topK: number, options: InferOptions): Promise<Prediction[]> {
  if (!model.image) throw new HttpError(400, `model ${model.name} has no image route (configure "image" for it, or --labels)`);
  const input = await imageTensor(bytes, model.image);
  const name = model.inputs[0]!.name;
  const output = await model.pool.infer(model.forwardArgs(new Map([[name, input]])), options);
  return topClasses(nameOutputs(output)[0]!.tensor, model.labels, topK);
}
