/**
 * Open Inference Protocol datatypes and torchpool dtypes, both ways, and tensor data in its JSON
 * form (a flat or nested array in row-major order) and its binary form (little-endian bytes).
 * @module
 */
import { DTYPES, type Dtype, type TensorData } from '../tensor.js';
import { HttpError } from './http-error.js';

/** The v2 datatypes torchpool can serve. BYTES, UINT16/32/64 and BF16 have no tensor dtype here. */
export const DATATYPES = {
  BOOL: 'bool',
  UINT8: 'uint8',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
} as const satisfies Record<string, Dtype>;

export type Datatype = keyof typeof DATATYPES;

export function dtypeOf(datatype: unknown, where: string): Dtype {
  if (typeof datatype !== 'string' || !(datatype in DATATYPES)) {
    throw new HttpError(400, `${where}: unsupported datatype ${JSON.stringify(datatype)}; supported: ${Object.keys(DATATYPES).join(', ')}`);
  }
  return DATATYPES[datatype as Datatype];
}

const DATATYPE_OF = Object.fromEntries(Object.entries(DATATYPES).map(([datatype, dtype]) => [dtype, datatype])) as Record<Dtype, Datatype>;

export function datatypeOf(dtype: Dtype): Datatype {
  return DATATYPE_OF[dtype];
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits of a number (round to nearest even; overflow to infinity). */
export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = ((x >>> 23) & 0xff) - 127 + 15;
  const mantissa = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // inf / NaN
  if (exponent >= 31) return sign | 0x7c00;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    const m = (mantissa | 0x800000) >>> (1 - exponent);
    return sign | ((m + 0x1000) >>> 13);
  }
  const rounded = (sign | (exponent << 10) | (mantissa >>> 13)) + ((mantissa >>> 12) & 1);
  return rounded;
}

/** The number that IEEE half bits stand for. */
export function fromHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function flatten(data: unknown, out: unknown[], depth: number): void {
  if (!Array.isArray(data)) {
    out.push(data);
    return;
  }
  if (depth > 32) throw new HttpError(400, 'tensor data is nested too deeply');
  for (const item of data) flatten(item, out, depth + 1);
}

/** JSON tensor data (flat or nested, row-major) as the TypedArray of `dtype`, `count` elements. */
export function fromJson(data: unknown, dtype: Dtype, count: number, where: string): TensorData {
  if (!Array.isArray(data)) throw new HttpError(400, `${where}.data must be an array`);
  // Flat data (the common case) is read in place; nested data is flattened first.
  let flat: unknown[] = data;
  if (data.length !== count || (count > 0 && Array.isArray(data[0]))) {
    flat = [];
    flatten(data, flat, 0);
  }
  if (flat.length !== count) {
    throw new HttpError(400, `${where}: shape needs ${count} elements, data has ${flat.length}`);
  }
  const out = new DTYPES[dtype].array(count) as TensorData;
  const bad = (i: number, what: string) => new HttpError(400, `${where}.data[${i}]: expected ${what}`);
  // One loop per kind, so the per-element work is a type check and a store.
  switch (dtype) {
    case 'float32':
    case 'float64': {
      const typed = out as Float32Array;
      for (let i = 0; i < count; i++) {
        const v = flat[i];
        if (typeof v !== 'number') throw bad(i, 'a number');
        typed[i] = v;
      }
      break;
    }
    case 'float16': {
      const typed = out as Uint16Array;
      for (let i = 0; i < count; i++) {
        const v = flat[i];
        if (typeof v !== 'number') throw bad(i, 'a number');
        typed[i] = toHalf(v);
      }
      break;
    }
    case 'bool': {
      const typed = out as Uint8Array;
      for (let i = 0; i < count; i++) {
        const v = flat[i];
        if (typeof v !== 'boolean') throw bad(i, 'a boolean');
        typed[i] = v ? 1 : 0;
      }
      break;
    }
    case 'int64': {
      const typed = out as BigInt64Array;
      for (let i = 0; i < count; i++) {
        const v = flat[i];
        if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(i, 'an integer');
        typed[i] = BigInt(v);
      }
      break;
    }
    default: {
      const typed = out as Int32Array;
      for (let i = 0; i < count; i++) {
        const v = flat[i];
        if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(i, `an integer for ${datatypeOf(dtype)}`);
        typed[i] = v;
      }
    }
  }
  return out;
}

/** Binary tensor data (little-endian, row-major) copied into an aligned TypedArray of `dtype`. */
export function fromBinary(bytes: Uint8Array, dtype: Dtype, count: number, where: string): TensorData {
  const size = DTYPES[dtype].array.BYTES_PER_ELEMENT;
  if (bytes.byteLength !== count * size) {
    throw new HttpError(400, `${where}: shape needs ${count * size} bytes of ${datatypeOf(dtype)}, binary_data_size is ${bytes.byteLength}`);
  }
  const out = new DTYPES[dtype].array(count) as TensorData;
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  return out;
}

/** A tensor's data in its JSON form: numbers (float16 decoded, int64 as numbers) or booleans. */
export function toJson(data: TensorData, dtype: Dtype): (number | boolean)[] {
  if (dtype === 'bool') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (dtype === 'float16') return Array.from(data as Uint16Array, fromHalf);
  if (dtype === 'int64') return Array.from(data as BigInt64Array, (v) => Number(v));
  return Array.from(data as Float32Array);
}

/** A tensor's bytes, without a copy. */
export function toBinary(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
