/**
 * Checks of options and inputs, in one message shape, before anything reaches native code.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ErrorCodes, invalidArg, invalidArgText, TorchpoolError } from './errors.js';
import { defaultDtype, DTYPES, type Dtype, type DtypeArrays, isDtype, type InferInputs, type InferValue, type Tensor } from './tensor.js';

/** Whether `value` looks like a tensor (an object whose `data` is a TypedArray). */
export function isTensorLike(value: unknown): value is Tensor {
  if (typeof value !== 'object' || value === null) return false;
  const data = (value as { data?: unknown }).data;
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) return true;
  // { data, shape } with bad data is a malformed tensor, not a record of named arguments.
  return 'data' in value && 'shape' in value;
}

/** Throws ERR_TORCHPOOL_INVALID_ARG unless `shape` is an array of non-negative integers; returns its element count. */
export function checkShape(shape: unknown, where: string): number {
  if (!Array.isArray(shape)) throw invalidArg(where, 'an array of dimensions', shape);
  let elements = 1;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw invalidArg(`${where}[${i}]`, 'a non-negative integer', d);
    elements *= d;
  }
  return elements;
}

/** Throws ERR_TORCHPOOL_INVALID_ARG unless `value` is a well-formed tensor. */
export function checkTensor(value: Tensor, where: string): void {
  const { data, shape, dtype } = value;
  if (!ArrayBuffer.isView(data) || data instanceof DataView) {
    throw invalidArg(`${where}.data`, 'a TypedArray', data);
  }
  let resolved = dtype;
  if (resolved === undefined) {
    resolved = defaultDtype(data);
    if (resolved === undefined) throw invalidArg(`${where}.data`, 'a TypedArray with a dtype', data);
  } else if (!isDtype(resolved)) {
    throw invalidArg(`${where}.dtype`, `one of ${Object.keys(DTYPES).join(', ')}`, resolved);
  }
  const expectedArray = DTYPES[resolved].array;
  const matches = data instanceof expectedArray || (expectedArray === Uint8Array && data instanceof Uint8ClampedArray);
  if (!matches) {
    const article = /^[AEIOU]/.test(expectedArray.name) ? 'an' : 'a';
    throw invalidArg(`${where}.data`, `${article} ${expectedArray.name} for dtype ${resolved}`, data);
  }
  const elements = checkShape(shape, `${where}.shape`);
  const length = (data as { length: number }).length;
  if (elements !== length) {
    throw invalidArgText(`${where}.data`, `${elements} elements (shape [${shape.join(', ')}])`, `${length} elements`);
  }
}

function checkValue(value: InferValue, where: string): void {
  if (value === null || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string' || typeof value === 'bigint') {
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item: InferValue, i: number) => checkValue(item, `${where}[${i}]`));
    return;
  }
  if (isTensorLike(value)) {
    checkTensor(value, where);
    return;
  }
  throw invalidArg(where, 'a tensor ({ data, shape, dtype? }), number, boolean, string, null or array', value);
}

/** Forward arguments split into positional and keyword ones, checked. */
export interface NormalizedInputs {
  args: readonly InferValue[];
  kwargs: { readonly [name: string]: InferValue } | null;
}

/** Validates what `infer()` was given and splits it the way forward() will be called. */
export function normalizeInputs(inputs: InferInputs): NormalizedInputs {
  if (isTensorLike(inputs)) {
    checkTensor(inputs, 'inputs');
    return { args: [inputs], kwargs: null };
  }
  if (Array.isArray(inputs)) {
    const args = inputs as readonly InferValue[];
    args.forEach((value, i) => checkValue(value, `inputs[${i}]`));
    return { args, kwargs: null };
  }
  if (typeof inputs === 'object' && inputs !== null && Object.getPrototypeOf(inputs) === Object.prototype) {
    const kwargs = inputs as { readonly [name: string]: InferValue };
    for (const name of Object.keys(kwargs)) checkValue(kwargs[name] as InferValue, `inputs.${name}`);
    return { args: [], kwargs };
  }
  throw invalidArg('inputs', 'a tensor, an array of forward arguments or a record of named arguments', inputs);
}

/** Checks that an options argument is an object (or absent); returns it, or `{}`. */
export function checkOptionsObject<T extends object>(value: T | undefined, where = 'options'): T {
  if (value === undefined) return {} as T;
  if (typeof value !== 'object' || value === null) throw invalidArg(where, 'an object', value);
  return value;
}

/** Checks an optional positive integer option. */
export function checkPositiveInteger(value: unknown, where: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw invalidArg(where, `an integer between 1 and ${max}`, value);
  }
  return value;
}

/** Checks an optional boolean option. */
export function checkBoolean(value: unknown, where: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalidArg(where, 'a boolean', value);
  return value;
}

/**
 * Builds a tensor and checks it at once, e.g. `tensor(new Float32Array(6), [2, 3])`.
 * Throws a TorchpoolError (ERR_TORCHPOOL_INVALID_ARG) if data and shape disagree.
 */
export function tensor<D extends Dtype>(data: DtypeArrays[D], shape: readonly number[], dtype?: D): Tensor<D> {
  const t: Tensor<D> = dtype === undefined ? { data, shape } : { data, shape, dtype };
  checkTensor(t, 'tensor');
  return t;
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps), for "did you mean". */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = best;
    }
  }
  return d[rows * cols - 1]!;
}

/** The known name closest to `name` (ignoring case), when it is close enough to be a typo. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/**
 * Options objects are closed: a key that is not an option is a mistake (a typo would otherwise
 * be silently ignored). Throws ERR_TORCHPOOL_INVALID_ARG naming the key and the closest option.
 * Keys whose value is `undefined` are accepted only when known, like any other.
 */
export function checkKnownKeys(value: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const suggestion = closestName(key, known);
    throw new TorchpoolError(
      ErrorCodes.INVALID_ARG,
      `Unknown option '${key}' in ${where}` +
        (suggestion ? ` (did you mean '${suggestion}'?)` : '') +
        `; the options are ${known.map((k) => `'${k}'`).join(', ')}`,
    );
  }
}

type FlagOptions = NonNullable<ParseArgsConfig['options']>;
type FlagValues<T extends FlagOptions> = ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>>['values'];

/**
 * A CLI command's flags: util.parseArgs in strict mode without positionals. An unknown flag
 * throws `usageError(message)`, the message naming the closest known flag.
 */
export function parseFlags<T extends FlagOptions>(argv: string[], options: T, usageError: (message: string) => Error): FlagValues<T> {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: false, options }).values;
  } catch (error) {
    throw usageError(unknownFlagMessage(error as Error, Object.keys(options)));
  }
}

/** util.parseArgs' strict-mode error for an unknown flag, with the closest known flag suggested. */
export function unknownFlagMessage(error: Error, flags: readonly string[]): string {
  const match = /Unknown option '(-{1,2}[^']+)'/.exec(error.message);
  if (!match) return error.message;
  const suggestion = closestName(match[1]!.replace(/^-+/, ''), flags);
  return `unknown option '${match[1]}'${suggestion ? ` (did you mean '--${suggestion}'?)` : ''}`;
}
