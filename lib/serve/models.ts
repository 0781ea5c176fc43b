/**
 * The served models: one InferencePool each, with the metadata the v2 protocol reports (inputs
 * and outputs with name, datatype and shape) and the mapping between v2 tensors and the model's
 * forward arguments and outputs.
 * @module
 */
import * as fs from 'node:fs';
import { builtinInput } from '../bench/inputs.js';
import { builtinModelNames, builtinModelPath } from '../models.js';
import { InferencePool, type SharedPoolToken } from '../pool.js';
import { DTYPES, type Dtype, type InferOutput, type InferValue, type OutputTensor, type Tensor, type TensorData } from '../tensor.js';
import type { ModelConfig } from './config.js';
import { type Datatype, datatypeOf, dtypeOf } from './datatypes.js';
import { HttpError } from './http-error.js';

export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  /** -1 for a dimension that varies (the batch dimension). */
  shape: number[];
  /** False when neither the config nor a built-in model said what the input is: any shape and datatype pass. */
  declared?: boolean;
}

/** The image route's preprocessing with its defaults filled in. */
export interface ResolvedImage {
  size: [number, number];
  mean: [number, number, number];
  std: [number, number, number];
  topK: number;
}

export interface NamedOutput {
  name: string;
  tensor: OutputTensor;
}

function isOutputTensor(value: unknown): value is OutputTensor {
  return typeof value === 'object' && value !== null && ArrayBuffer.isView((value as Tensor).data) && Array.isArray((value as Tensor).shape);
}

/** The outputs of one forward, named like Triton's PyTorch backend: output__0.. or dict keys. */
export function nameOutputs(output: InferOutput): NamedOutput[] {
  const check = (value: unknown, name: string): NamedOutput => {
    if (!isOutputTensor(value)) throw new HttpError(500, `output ${name} is not a tensor; the v2 protocol carries tensors only`);
    return { name, tensor: value };
  };
  if (isOutputTensor(output)) return [{ name: 'output__0', tensor: output }];
  if (Array.isArray(output)) return output.map((v, i) => check(v, `output__${i}`));
  if (typeof output === 'object' && output !== null) return Object.entries(output).map(([k, v]) => check(v, k));
  throw new HttpError(500, 'the model returned a value that is not a tensor');
}

/**
 * Everything a served model is besides its pool, as plain data: what another thread needs to
 * serve the same model from the same engines (`torchpool serve --threads`).
 */
export interface ServedModelSpec {
  name: string;
  version: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
  argOrder: { input?: string; constant?: string }[];
  constants: Record<string, number | boolean | string>;
  image: ResolvedImage | undefined;
  labels: string[];
  platform: string;
  /** The pool's share() token. */
  token: SharedPoolToken;
}

export class ServedModel {
  ready = false;
  labels: string[] = [];
  outputs: TensorMetadata[] = [];

  private constructor(
    readonly name: string,
    readonly version: string,
    readonly pool: InferencePool,
    readonly inputs: TensorMetadata[],
    /** forward's arguments in order: an input name, or a constant's name. */
    private readonly argOrder: { input?: string; constant?: string }[],
    private readonly constants: Record<string, number | boolean | string>,
    readonly image: ResolvedImage | undefined,
    readonly platform: string,
  ) {}

  /** This model as data for other threads; its pool is shared (see {@link ServedModel.attach}). */
  describe(): ServedModelSpec {
    return {
      name: this.name,
      version: this.version,
      inputs: this.inputs,
      outputs: this.outputs,
      argOrder: this.argOrder,
      constants: this.constants,
      image: this.image,
      labels: this.labels,
      platform: this.platform,
      token: this.pool.share(),
    };
  }

  /** The same model in this thread, on the engines of the pool that described it. */
  static async attach(spec: ServedModelSpec): Promise<ServedModel> {
    const pool = await InferencePool.attach(spec.token);
    const model = new ServedModel(spec.name, spec.version, pool, spec.inputs, spec.argOrder, spec.constants, spec.image, spec.platform);
    model.labels = spec.labels;
    model.outputs = spec.outputs;
    model.ready = true;
    return model;
  }

  /** Loads the pool, derives the metadata and probes the outputs with one zero input. */
  static async load(config: ModelConfig): Promise<ServedModel> {
    const builtin = !fs.existsSync(config.path) && builtinModelNames().includes(config.path);
    const file = builtin ? await builtinModelPath(config.path) : config.path;
    const pool = await InferencePool.create({ ...config.pool, model: file });
    try {
      const onGpu = pool.devices.some((d) => d.startsWith('cuda'));
      const known = builtin ? builtinInput(config.path, onGpu) : undefined;
      const constants = config.constants ?? {};
      const argOrder: { input?: string; constant?: string }[] = [];
      const inputs: TensorMetadata[] = [];
      for (const arg of pool.signature.inputs) {
        if (arg.name in constants) {
          argOrder.push({ constant: arg.name });
          continue;
        }
        const given = config.inputs?.find((i) => i.name === arg.name);
        if (!/Tensor/.test(arg.type) && !given) {
          if (arg.optional) continue;
          throw new Error(`model ${config.name}: forward argument '${arg.name}' is a ${arg.type}, not a tensor; give its value in the config's "constants"`);
        }
        argOrder.push({ input: arg.name });
        if (given) {
          dtypeOf(given.datatype, `models.${config.name}.inputs.${arg.name}`);
          inputs.push({ name: arg.name, datatype: given.datatype, shape: [...given.shape] });
        } else if (known && inputs.length === 0) {
          inputs.push({ name: arg.name, datatype: datatypeOf(known.dtype ?? 'float32'), shape: [-1, ...known.shape] });
        } else {
          inputs.push({ name: arg.name, datatype: 'FP32', shape: [-1], declared: false });
        }
      }
      let image: ServedModel['image'];
      if (config.image) {
        const shape = inputs[0]?.shape ?? [];
        const fromShape: [number, number] | undefined = shape.length === 4 && shape[2]! > 0 && shape[3]! > 0 ? [shape[2]!, shape[3]!] : undefined;
        const size = config.image.size ?? fromShape ?? 224;
        image = {
          size: typeof size === 'number' ? [size, size] : size,
          mean: config.image.mean ?? [0.485, 0.456, 0.406],
          std: config.image.std ?? [0.229, 0.224, 0.225],
          topK: config.image.topK ?? 5,
        };
      }
      const platform = `${pool.format === 'aoti' ? 'torchpool_aoti' : 'torchpool_libtorch'} (${pool.devices.join(', ')})`;
      const model = new ServedModel(config.name, config.version ?? '1', pool, inputs, argOrder, constants, image, platform);
      if (config.image?.labels) {
        model.labels = fs.readFileSync(config.image.labels, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
      }
      await model.probeOutputs();
      model.ready = true;
      return model;
    } catch (error) {
      await pool.close();
      throw error;
    }
  }

  /**
   * Output metadata from one forward on zeros (batch 1, unknown dimensions 1). Output dimensions
   * after the first are reported only when every input dimension was known; -1 otherwise.
   */
  private async probeOutputs(): Promise<void> {
    const fallback: TensorMetadata[] = [{ name: 'output__0', datatype: 'FP32', shape: [-1] }];
    if (this.inputs.length === 0 || this.inputs.some((i) => i.declared === false)) {
      this.outputs = fallback;
      return;
    }
    const exact = this.inputs.every((i) => i.shape.slice(1).every((d) => d >= 0));
    const tensors = new Map<string, Tensor>();
    for (const input of this.inputs) {
      const dtype: Dtype = dtypeOf(input.datatype, input.name);
      const shape = input.shape.map((d) => (d < 0 ? 1 : d));
      const count = shape.reduce((a, b) => a * b, 1);
      tensors.set(input.name, { data: new DTYPES[dtype].array(count) as TensorData, shape, dtype });
    }
    try {
      const output = await this.pool.infer(this.forwardArgs(tensors));
      this.outputs = nameOutputs(output).map(({ name, tensor }) => ({
        name,
        datatype: datatypeOf(tensor.dtype),
        shape: tensor.shape.map((d, k) => (k === 0 || !exact ? -1 : d)),
      }));
    } catch {
      this.outputs = fallback; // the model needs inputs zeros do not satisfy: report what is known
    }
  }

  /** forward's positional arguments from the request's tensors (by name) and the constants. */
  forwardArgs(tensors: Map<string, Tensor>): InferValue[] {
    return this.argOrder.map((a) => (a.input !== undefined ? tensors.get(a.input)! : this.constants[a.constant!]!));
  }
}
