/**
 * pool.allocInput(): input tensors whose data already lives in page-locked host memory, so that
 * a CUDA engine copies them to the device directly instead of first copying them into its own
 * staging memory. Ownership: the memory belongs to the returned TypedArray's ArrayBuffer and is
 * freed when that is garbage collected; the pool never frees or reuses it, so it stays valid
 * after close(). Allocating page-locked memory is slow (a driver-wide lock): allocate once,
 * fill and reuse, rather than once per request.
 * @module
 */
import { nativeBinding } from './binding.js';
import { ErrorCodes, invalidArg, TorchpoolError } from './errors.js';
import { DTYPES, type Dtype, type DtypeArrays, isDtype, type Tensor } from './tensor.js';
import { checkShape } from './validate.js';

/** A tensor from {@link InferencePool.allocInput}: pass it to infer() like any other. */
export interface PinnedTensor<D extends Dtype = Dtype> extends Tensor<D> {
  dtype: D;
  shape: number[];
  /** Whether `data` is page-locked memory; false on pools without a CUDA engine (see `reason`). */
  pinned: boolean;
  /** Why the memory is ordinary memory, when `pinned` is false. */
  reason?: string;
}

/**
 * A zero-filled tensor of `shape` and `dtype` (float32 when omitted) in page-locked memory
 * made on `cudaDevice` (portable: any GPU can copy from it), or in ordinary memory when
 * `cudaDevice` is undefined or the memory cannot be had.
 */
export function allocPinnedTensor<D extends Dtype>(shape: readonly number[], dtype: D, cudaDevice: number | undefined, noCudaReason: string): PinnedTensor<D> {
  const elements = checkShape(shape, 'allocInput shape');
  if (!Number.isSafeInteger(elements)) throw invalidArg('allocInput shape', 'a shape of fewer than 2^53 elements', shape);
  const dims = [...shape];
  if (!isDtype(dtype)) throw invalidArg('allocInput dtype', `one of ${Object.keys(DTYPES).join(', ')}`, dtype);
  const array = DTYPES[dtype].array;
  const bytes = elements * array.BYTES_PER_ELEMENT;
  let reason = noCudaReason;
  if (cudaDevice !== undefined) {
    const result = nativeBinding().allocPinned(bytes, cudaDevice);
    if (result.buffer) {
      // cudaHostAlloc does not clear memory; a fresh tensor reads as zeros like any other.
      const data = new array(result.buffer, 0, elements) as unknown as DtypeArrays[D];
      new Uint8Array(result.buffer).fill(0);
      return { data, shape: dims, dtype, pinned: true };
    }
    reason = result.reason ?? 'page-locked memory could not be allocated';
  }
  let data: DtypeArrays[D];
  try {
    data = new array(elements) as unknown as DtypeArrays[D];
  } catch (error) {
    throw new TorchpoolError(ErrorCodes.OUT_OF_MEMORY, `allocInput: ${bytes} bytes could not be allocated (${(error as Error).message})`);
  }
  return { data, shape: dims, dtype, pinned: false, reason };
}
