/**
 * `pool.infer(inputs, { output })`: outputs written into the caller's arrays. The option is
 * checked here; the arrays' fit is checked before the request runs once the pool has seen what
 * the model returns for inputs of that shape (OutputLayouts), and by the engine otherwise (then
 * a misfit rejects with nothing written). Native side: native/engine/output_targets.h.
 * @module
 */
import { ErrorCodes, invalidArg, TorchpoolError } from './errors.js';
import type { InferOutput, OutputTensor, TensorData } from './tensor.js';
import type { NormalizedInputs } from './validate.js';
import { isTensorLike } from './validate.js';

/** The `output` option: the one output's array, or arrays by output name (`output__0`, ... for a tuple; a dict's keys). */
export type OutputTargets = TensorData | { readonly [name: string]: TensorData };

function isTypedArray(value: unknown): value is TensorData {
  return ArrayBuffer.isView(value) && !(value instanceof DataView);
}

/** Checks the option's form (not yet its fit); throws ERR_TORCHPOOL_INVALID_ARG. */
export function checkOutputTargets(value: unknown): OutputTargets {
  if (isTypedArray(value)) return value;
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    const entries = Object.entries(value);
    if (entries.length === 0) throw invalidArg('options.output', 'a TypedArray, or an object of TypedArrays by output name', value);
    for (const [name, array] of entries) {
      if (!isTypedArray(array)) throw invalidArg(`options.output.${name}`, 'a TypedArray', array);
    }
    return value as OutputTargets;
  }
  throw invalidArg('options.output', 'a TypedArray, or an object of TypedArrays by output name', value);
}

interface Layout {
  /** Elements per input row and the array type, by output name ('' for a lone tensor). */
  outputs: Map<string, { perRow: number; array: string }>;
}

const arrayName = (a: TensorData) => a.constructor.name;

/** What the model returned for inputs of one shape (rows aside), learned from earlier requests. */
export class OutputLayouts {
  readonly #layouts = new Map<string, Layout>();

  /** The inputs' shape without their rows, and the rows: the layout's key. */
  static key(inputs: NormalizedInputs): { key: string; rows: number } | undefined {
    const parts: string[] = [];
    let rows = -1;
    const add = (name: string, value: unknown) => {
      if (!isTensorLike(value)) {
        parts.push(`${name}=${typeof value}`);
        return;
      }
      const shape = value.shape;
      if (rows < 0) rows = shape[0] ?? 0;
      parts.push(`${name}:${value.dtype ?? arrayName(value.data as TensorData)}[${shape.slice(1).join(',')}]`);
    };
    inputs.args.forEach((value, i) => add(String(i), value));
    for (const [name, value] of Object.entries(inputs.kwargs ?? {})) add(name, value);
    return rows > 0 ? { key: parts.join(' '), rows } : undefined;
  }

  /** Throws ERR_TORCHPOOL_INVALID_ARG before the request runs when the arrays cannot hold what the model returns. */
  check(inputs: NormalizedInputs, targets: OutputTargets): void {
    const at = OutputLayouts.key(inputs);
    const layout = at && this.#layouts.get(at.key);
    if (!at || !layout) return;
    const named: [string, TensorData][] = isTypedArray(targets) ? [['', targets]] : Object.entries(targets);
    for (const [name, array] of named) {
      const where = name === '' ? 'options.output' : `options.output.${name}`;
      const output = layout.outputs.get(name) ?? (name === 'output__0' ? layout.outputs.get('') : undefined);
      if (!output) {
        throw new TorchpoolError(ErrorCodes.INVALID_ARG, `Expected the name of one of the model's tensor outputs (${[...layout.outputs.keys()].map((k) => `'${k || '(one tensor: pass a TypedArray)'}'`).join(', ')}) for ${where} but the model has no output of that name`);
      }
      const length = output.perRow * at.rows;
      if (arrayName(array) !== output.array || array.length !== length) {
        throw new TorchpoolError(ErrorCodes.INVALID_ARG, `Expected a ${output.array} of ${length} elements (${at.rows} rows of ${output.perRow}) for ${where} but received a ${arrayName(array)} of ${array.length} elements`);
      }
    }
  }

  /** Learns from a result written into `targets`. */
  learn(inputs: NormalizedInputs, targets: OutputTargets, result: InferOutput): void {
    const at = OutputLayouts.key(inputs);
    if (!at || this.#layouts.size > 256) return;
    const outputs = new Map<string, { perRow: number; array: string }>();
    const note = (name: string, value: unknown) => {
      const tensor = value as OutputTensor;
      if (isTensorLike(tensor) && tensor.shape.length > 0) outputs.set(name, { perRow: tensor.data.length / at.rows, array: arrayName(tensor.data as TensorData) });
    };
    if (isTensorLike(result)) note('', result);
    else if (Array.isArray(result)) result.forEach((v, i) => note(`output__${i}`, v));
    else if (typeof result === 'object' && result !== null) for (const [k, v] of Object.entries(result)) note(k, v);
    void targets;
    this.#layouts.set(at.key, { outputs });
  }
}
