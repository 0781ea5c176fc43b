/**
 * Tensors as torchpool takes and returns them: a TypedArray, a shape and a dtype.
 * @module
 */

/** Element types torchpool can pass to and from libtorch. */
export type Dtype = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** The TypedArray that holds each dtype. float16 travels as its raw bits in a Uint16Array. */
export interface DtypeArrays {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

/** Any TypedArray torchpool accepts as tensor data. */
export type TensorData = DtypeArrays[Dtype];

/**
 * A tensor: `data` in row-major order, `shape` its dimensions. `dtype` defaults from the
 * TypedArray (Uint16Array means float16, Uint8Array means uint8; say `'bool'` for booleans).
 */
export interface Tensor<D extends Dtype = Dtype> {
  data: DtypeArrays[D];
  shape: readonly number[];
  dtype?: D;
}

/** A tensor returned by a forward: `dtype` is always set and `data` is a fresh array. */
export interface OutputTensor<D extends Dtype = Dtype> extends Tensor<D> {
  dtype: D;
  shape: number[];
}

/** A value passed as one forward argument. Arrays become TorchScript lists. */
export type InferValue = Tensor | number | bigint | boolean | string | null | readonly InferValue[];

/**
 * What `pool.infer()` takes: one tensor (forward's single argument), an array (positional
 * arguments) or a record (keyword arguments by the names in the model's forward).
 */
export type InferInputs = Tensor | readonly InferValue[] | { readonly [name: string]: InferValue };

/** What `pool.infer()` returns, mirroring forward's result: a tensor, a tuple/list, a dict, or a scalar. */
export type InferOutput = OutputTensor | InferOutput[] | { [key: string]: InferOutput } | number | bigint | boolean | string | null;

type ArrayConstructor = {
  new (length: number): TensorData;
  new (buffer: ArrayBuffer, byteOffset: number, length: number): TensorData;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};

/** The dtype table; native/binding/dtypes.h holds its C++ twin. */
export const DTYPES: { readonly [D in Dtype]: { readonly array: ArrayConstructor } } = {
  float32: { array: Float32Array },
  float64: { array: Float64Array },
  float16: { array: Uint16Array },
  int64: { array: BigInt64Array },
  int32: { array: Int32Array },
  int16: { array: Int16Array },
  int8: { array: Int8Array },
  uint8: { array: Uint8Array },
  bool: { array: Uint8Array },
};

/** Whether `value` is a dtype name torchpool supports. */
export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, value);
}

/** The dtype a TypedArray stands for when a tensor names none, or undefined if none fits. */
export function defaultDtype(data: ArrayBufferView): Dtype | undefined {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Uint16Array) return 'float16';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return 'uint8';
  return undefined;
}

/** The number of elements a shape holds. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
