/**
 * Per-request options of infer(): priority, timeout and abort, and the promise wrapper that
 * makes an abort reject at once even when the forward is already running.
 * @module
 */
import { describe, ErrorCodes, invalidArg, TorchpoolError } from './errors.js';
import { checkOutputTargets, type OutputTargets } from './output-targets.js';
import { checkKnownKeys } from './validate.js';

/** Options of {@link InferencePool.infer}. */
export interface InferOptions {
  /**
   * Aborting it removes the request if it is still queued; if its forward is running, the
   * forward finishes and its result is dropped. Either way the promise rejects with ABORTED
   * at once, with the signal's reason as `cause`.
   */
  signal?: AbortSignal;
  /** Reject with TIMEOUT if the request has not started within this many milliseconds. */
  timeoutMs?: number;
  /**
   * Higher runs first: an integer, or 'high' (1), 'normal' (0, the default), 'low' (-1).
   * Waiting requests gain a level every `priorityAgingMs`, so low priority is never starved.
   */
  priority?: number | 'high' | 'normal' | 'low';
  /** Let this request be merged with others (default true; the pool's `batching` must be on too). */
  batching?: boolean;
  /**
   * Write the outputs into these arrays instead of new ones: a TypedArray for a model that returns
   * one tensor, or an object of them by output name (`output__0`, `output__1`, ... for a tuple or
   * list; a dict's keys). Outputs without an array come back as usual. The promise resolves with
   * the usual result, whose tensors' `data` are your arrays. An array of the wrong type or length
   * rejects with ERR_TORCHPOOL_INVALID_ARG: before the request runs once the pool has seen what the
   * model returns for inputs of that shape, with nothing written otherwise. Do not read, write,
   * transfer or resize the arrays until the promise settles.
   */
  output?: OutputTargets;
}

/** InferOptions checked and reduced to what the native call takes. */
export interface RequestControl {
  signal: AbortSignal | undefined;
  timeoutMs: number;
  priority: number;
  batchable: boolean;
  output: OutputTargets | undefined;
}

const NAMED_PRIORITIES = { high: 1, normal: 0, low: -1 } as const;
export const NO_CONTROL: RequestControl = Object.freeze({ signal: undefined, timeoutMs: 0, priority: 0, batchable: true, output: undefined });

/** Every key of {@link InferOptions}. */
export const INFER_OPTION_KEYS = Object.keys({ signal: true, timeoutMs: true, priority: true, batching: true, output: true } satisfies Record<keyof InferOptions, true>);

/** Checks InferOptions (and no other keys than `known`); throws ERR_TORCHPOOL_INVALID_ARG. */
export function checkInferOptions(options: InferOptions | undefined, known: readonly string[] = INFER_OPTION_KEYS): RequestControl {
  if (options === undefined) return NO_CONTROL;
  if (typeof options !== 'object' || options === null) throw invalidArg('options', 'an object', options);
  checkKnownKeys(options, known, 'options');
  const { signal, timeoutMs, priority, batching, output } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArg('options.signal', 'an AbortSignal', signal);
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > 2 ** 31 - 1)) {
    throw invalidArg('options.timeoutMs', 'a number of milliseconds between 0 (exclusive) and 2147483647', timeoutMs);
  }
  let level = 0;
  if (typeof priority === 'string' && Object.hasOwn(NAMED_PRIORITIES, priority)) {
    level = NAMED_PRIORITIES[priority as keyof typeof NAMED_PRIORITIES];
  } else if (priority !== undefined) {
    if (typeof priority !== 'number' || !Number.isInteger(priority) || Math.abs(priority) > 1_000_000) {
      throw invalidArg('options.priority', "an integer between -1000000 and 1000000, or 'high', 'normal' or 'low'", priority);
    }
    level = priority;
  }
  if (batching !== undefined && typeof batching !== 'boolean') throw invalidArg('options.batching', 'a boolean', batching);
  return { signal, timeoutMs: timeoutMs ?? 0, priority: level, batchable: batching ?? true, output: output === undefined ? undefined : checkOutputTargets(output) };
}

/** The rejection of an aborted request. */
export function abortedError(signal: AbortSignal): TorchpoolError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error ? `: ${reason.message}` : reason === undefined ? '' : `: ${describe(reason)}`;
  return new TorchpoolError(ErrorCodes.ABORTED, `the request was aborted${why}`, { cause: reason });
}

/**
 * Ties a queued request's promise to its signal and timeout. The native side settles a request
 * it removes from the queue (TIMEOUT, ABORTED); an abort of a running request rejects here and
 * the late result is dropped.
 */
export function controlled<T>(cancel: (id: number, code: 'ABORTED' | 'TIMEOUT') => void, id: number, pending: Promise<T>, control: RequestControl): Promise<T> {
  const { signal, timeoutMs } = control;
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      cleanup();
      cancel(id, 'ABORTED');
      reject(abortedError(signal as AbortSignal));
    };
    const cleanup = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    if (timeoutMs > 0) {
      // The native side also checks the deadline when an engine picks the request up; this
      // timer makes the rejection arrive on time while every engine is busy.
      timer = setTimeout(() => cancel(id, 'TIMEOUT'), timeoutMs);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error: unknown) => {
        cleanup();
        reject(error);
      },
    );
  });
}
