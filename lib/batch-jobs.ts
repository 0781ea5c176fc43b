/**
 * Data-parallel jobs on top of infer(): inferBatch() cuts one large batch into chunks that run
 * on every engine at once and glues the outputs back; map() streams a large job through the
 * shared queue with bounded memory, in input order.
 * @module
 */
import { setMaxListeners } from 'node:events';
import { ErrorCodes, invalidArg, TorchpoolError } from './errors.js';
import type { InferInputs, InferOutput, InferValue, OutputTensor, Tensor, TensorData } from './tensor.js';
import { isTensorLike, normalizeInputs } from './validate.js';

/** Inputs cut into chunks of rows (with each chunk's row count); non-tensor arguments go to every chunk. */
export function splitRows(
  inputs: InferInputs,
  chunkSize: number | undefined,
  engines: number,
): { chunks: InferInputs[]; rows: number[] } {
  const { args, kwargs } = normalizeInputs(inputs);
  const tensors = [...args, ...Object.values(kwargs ?? {})].filter(isTensorLike);
  if (tensors.length === 0) throw invalidArg('inputs', 'at least one tensor to split along dim 0', inputs);
  const rows = tensors[0]?.shape[0] ?? 0;
  for (const t of tensors) {
    if (t.shape.length === 0 || t.shape[0] !== rows) {
      throw invalidArg('inputs', `tensors that all have ${rows} rows in dim 0`, `one of shape [${t.shape.join(', ')}]`);
    }
  }
  if (rows === 0) throw invalidArg('inputs', 'tensors with at least one row', 'tensors with 0 rows');
  const size = chunkSize ?? Math.ceil(rows / Math.max(1, engines));
  const slice = (value: InferValue, start: number, end: number): InferValue => {
    if (!isTensorLike(value)) return value;
    const perRow = value.data.length / rows;
    const t: Tensor = {
      data: value.data.subarray(start * perRow, end * perRow) as TensorData,
      shape: [end - start, ...value.shape.slice(1)],
    };
    if (value.dtype !== undefined) t.dtype = value.dtype;
    return t;
  };
  const chunks: InferInputs[] = [];
  const chunkRows: number[] = [];
  for (let start = 0; start < rows; start += size) {
    const end = Math.min(rows, start + size);
    chunkRows.push(end - start);
    if (kwargs) {
      chunks.push(Object.fromEntries(Object.entries(kwargs).map(([k, v]) => [k, slice(v, start, end)])));
    } else if (isTensorLike(inputs)) {
      chunks.push(slice(inputs, start, end) as Tensor);
    } else {
      chunks.push(args.map((a) => slice(a, start, end)));
    }
  }
  return { chunks, rows: chunkRows };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function notConcatenable(where: string, why: string): TorchpoolError {
  return new TorchpoolError(
    ErrorCodes.INVALID_ARG,
    `inferBatch() needs a model whose outputs keep the rows in dim 0, but output${where} ${why}; use infer() for this model`,
  );
}

/**
 * Concatenates chunk outputs along dim 0, through tuples/lists and records. `rows[i]` is the
 * number of rows chunk i had: an output that does not keep them (a reduction) cannot be glued.
 */
export function concatRows(parts: readonly InferOutput[], rows: readonly number[], where = ''): InferOutput {
  const first = parts[0];
  if (isTensorLike(first)) {
    const tensors = parts as OutputTensor[];
    tensors.forEach((t, i) => {
      if (t.shape.length === 0 || t.shape[0] !== rows[i]) {
        throw notConcatenable(where, `has shape [${t.shape.join(', ')}] for a chunk of ${rows[i]} rows`);
      }
    });
    const totalRows = tensors.reduce((n, t) => n + (t.shape[0] ?? 0), 0);
    const Ctor = first.data.constructor as new (length: number) => TensorData;
    const data = new Ctor(tensors.reduce((n, t) => n + t.data.length, 0));
    let offset = 0;
    for (const t of tensors) {
      (data as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(t.data as ArrayLike<unknown>, offset);
      offset += t.data.length;
    }
    return { data, shape: [totalRows, ...first.shape.slice(1)], dtype: first.dtype };
  }
  if (Array.isArray(first)) {
    return first.map((_, i) => concatRows(parts.map((p) => (p as InferOutput[])[i] as InferOutput), rows, `${where}[${i}]`));
  }
  if (typeof first === 'object' && first !== null) {
    const out: { [key: string]: InferOutput } = {};
    for (const key of Object.keys(first)) {
      out[key] = concatRows(parts.map((p) => (p as { [key: string]: InferOutput })[key] as InferOutput), rows, `${where}.${key}`);
    }
    return out;
  }
  throw notConcatenable(where, `is a ${typeof first}`);
}

/** One item of {@link InferencePool.map}: its output, or the error that item failed with. */
export type MapResult<T = InferOutput> =
  | { index: number; output: T; error?: undefined }
  | { index: number; output?: undefined; error: TorchpoolError };

/** Progress of a map() job, reported after every item. */
export interface MapProgress {
  /** Items settled so far (succeeded or failed). */
  completed: number;
  failed: number;
  /** The number of items when the input has a length (an array), else undefined. */
  total: number | undefined;
  elapsedMs: number;
}

/** Options of {@link InferencePool.map}. */
export interface MapOptions {
  /** Items in flight at once, which bounds memory; default 2 x engines x maxBatchSize, at most 256. */
  concurrency?: number;
  onProgress?: (progress: MapProgress) => void;
  /** Stops the job: queued items are withdrawn and the iteration throws ABORTED. */
  signal?: AbortSignal;
  priority?: number | 'high' | 'normal' | 'low';
  /** Per item, as in infer(). */
  timeoutMs?: number;
}

type InferFn = (inputs: InferInputs, signal: AbortSignal) => Promise<InferOutput>;

/** The generator behind map(): pulls inputs only while fewer than `concurrency` are unconsumed. */
export async function* mapOrdered<T>(
  items: Iterable<InferInputs> | AsyncIterable<InferInputs>,
  concurrency: number,
  infer: InferFn,
  onProgress: ((progress: MapProgress) => void) | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<MapResult<T>, void, undefined> {
  const total = Array.isArray(items) ? items.length : undefined;
  let iterator: Iterator<InferInputs> | AsyncIterator<InferInputs>;
  try {
    iterator = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : (items as Iterable<InferInputs>)[Symbol.iterator]();
  } catch (error) {
    throw new TorchpoolError(ErrorCodes.INVALID_ARG, `map(): the items cannot be iterated: ${messageOf(error)}`, { cause: error });
  }
  // Our own controller: breaking out of the loop withdraws everything still queued.
  const stop = new AbortController();
  setMaxListeners(0, stop.signal); // one listener per item in flight, by design
  const onAbort = (): void => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const started = performance.now();
  const pending = new Map<number, Promise<MapResult<T>>>();
  let pulled = 0;
  let yielded = 0;
  let completed = 0;
  let failed = 0;
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && pulled - yielded < concurrency) {
        if (stop.signal.aborted) break;
        let next: IteratorResult<InferInputs>;
        try {
          next = await iterator.next();
        } catch (error) {
          exhausted = true; // a throwing iterator is finished
          throw new TorchpoolError(ErrorCodes.INVALID_ARG, `map(): reading the next item failed: ${messageOf(error)}`, { cause: error });
        }
        if (next.done) {
          exhausted = true;
          break;
        }
        const index = pulled++;
        const settled = infer(next.value, stop.signal).then(
          (output): MapResult<T> => ({ index, output: output as T }),
          (error: unknown): MapResult<T> => {
            ++failed;
            const e = error instanceof TorchpoolError ? error : new TorchpoolError(ErrorCodes.INTERNAL, String(error), { cause: error });
            return { index, error: e };
          },
        );
        pending.set(
          index,
          settled.then((result) => {
            ++completed;
            try {
              onProgress?.({ completed, failed, total, elapsedMs: performance.now() - started });
            } catch (error) {
              throw new TorchpoolError(ErrorCodes.INVALID_ARG, `map(): options.onProgress threw: ${messageOf(error)}`, { cause: error });
            }
            return result;
          }),
        );
      }
      if (signal?.aborted) throw new TorchpoolError(ErrorCodes.ABORTED, 'the map() job was aborted', { cause: signal.reason });
      if (yielded === pulled) return;
      const result = pending.get(yielded) as Promise<MapResult<T>>;
      pending.delete(yielded);
      ++yielded;
      yield await result;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (pending.size > 0) stop.abort(new Error('map() ended early'));
    if (!exhausted) await iterator.return?.();
  }
}
