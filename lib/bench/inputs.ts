/**
 * Which model the bench runs and what one request looks like: a file with --input-shape, or a
 * built-in model with its known input.
 * @module
 */
import * as fs from 'node:fs';
import { builtinModelNames, builtinModelPath } from '../models.js';
import { DTYPES, type Dtype, isDtype, numel, type InferInputs, type Tensor, type TensorData } from '../tensor.js';
import { BenchUsageError } from './options.js';

export interface BenchModel {
  file: string;
  label: string;
  itemShape: number[];
  dtype: Dtype;
  /** Arguments after the tensor (the `cost` model's iteration count). */
  extraArgs: (number | string | boolean)[];
}

/** Inputs of the built-in models: one item's shape, and arguments after the tensor. */
export function builtinInput(name: string, onGpu: boolean): { shape: number[]; dtype?: Dtype; extra?: number[] } | undefined {
  switch (name) {
    case 'mlp': return { shape: [256] };
    case 'resnet18':
    case 'resnet50': return { shape: onGpu ? [3, 224, 224] : [3, 64, 64] };
    case 'embedding': return { shape: [8], dtype: 'int64' };
    case 'cost': return { shape: [64], extra: [1000] };
    case 'two_input': return undefined; // two tensors: not a single-input model
    default: return { shape: [16] };
  }
}

export async function resolveModel(model: string, itemShape: number[] | undefined, dtype: string, onGpu: boolean): Promise<BenchModel> {
  if (!isDtype(dtype)) throw new BenchUsageError(`--dtype expects one of ${Object.keys(DTYPES).join(', ')}, got '${dtype}'`);
  if (fs.existsSync(model)) {
    if (!itemShape) throw new BenchUsageError(`--input-shape is needed for ${model}: the shape of one item without the batch dimension, e.g. 3,224,224`);
    return { file: model, label: model, itemShape, dtype, extraArgs: [] };
  }
  if (!builtinModelNames().includes(model)) {
    throw new BenchUsageError(`--model: '${model}' is neither a file nor a built-in model (${builtinModelNames().join(', ')})`);
  }
  const known = builtinInput(model, onGpu);
  if (!known) throw new BenchUsageError(`--model: the built-in '${model}' takes two tensors; bench drives single-input models`);
  return {
    file: await builtinModelPath(model),
    label: `built-in ${model}`,
    itemShape: itemShape ?? known.shape,
    dtype: known.dtype ?? dtype,
    extraArgs: known.extra ?? [],
  };
}

/** A request of `rows` items filled with values in [0, 1) (zeros for integer dtypes). */
export function makeInput(model: BenchModel, rows: number): InferInputs {
  const shape = [rows, ...model.itemShape];
  const data = new DTYPES[model.dtype].array(numel(shape));
  if (data instanceof Float32Array || data instanceof Float64Array) {
    for (let i = 0; i < data.length; i++) data[i] = Math.random();
  } else if (model.dtype === 'float16') {
    (data as Uint16Array).fill(0x3800); // 0.5
  }
  const tensor: Tensor = { data: data as TensorData, shape, dtype: model.dtype };
  return model.extraArgs.length > 0 ? [tensor, ...model.extraArgs] : tensor;
}
