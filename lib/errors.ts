/**
 * Every error torchpool raises is a {@link TorchpoolError} with a stable `code`.
 * @module
 */

/** The codes a {@link TorchpoolError} can carry. Match on these, not on messages. */
export const ErrorCodes = {
  /** An option or input is malformed; the message names it and says what was expected. */
  INVALID_ARG: 'ERR_TORCHPOOL_INVALID_ARG',
  /** The model file is missing, unreadable, truncated or not TorchScript. */
  MODEL_LOAD: 'ERR_TORCHPOOL_MODEL_LOAD',
  /** The model's forward raised (shape mismatch, a TorchScript `raise`, ...): libtorch's message. */
  FORWARD: 'ERR_TORCHPOOL_FORWARD',
  /** The pool is closed, or was closed before the request ran. */
  CLOSED: 'ERR_TORCHPOOL_CLOSED',
  /** A requested device does not exist or cannot be used by this build. */
  NO_DEVICE: 'ERR_TORCHPOOL_NO_DEVICE',
  /** A CUDA runtime error during a forward. */
  CUDA: 'ERR_TORCHPOOL_CUDA',
  /** The device ran out of memory during a forward. */
  OUT_OF_MEMORY: 'ERR_TORCHPOOL_OUT_OF_MEMORY',
  /** `maxQueueSize` requests are already waiting: back off and retry (backpressure). */
  QUEUE_FULL: 'ERR_TORCHPOOL_QUEUE_FULL',
  /** The request did not start within its `timeoutMs`. */
  TIMEOUT: 'ERR_TORCHPOOL_TIMEOUT',
  /** The request's `signal` was aborted; `cause` holds the signal's reason. */
  ABORTED: 'ERR_TORCHPOOL_ABORTED',
  /** A library in `extensions` is missing or does not load here (another architecture, another libtorch). */
  EXTENSION_LOAD: 'ERR_TORCHPOOL_EXTENSION_LOAD',
  /** The pool is doing something that allows one at a time (a second concurrent `profile()`). */
  BUSY: 'ERR_TORCHPOOL_BUSY',
  /** The native addon could not be loaded (libtorch missing, ABI mismatch, no build). */
  NATIVE_LOAD: 'ERR_TORCHPOOL_NATIVE_LOAD',
  /** A bug in torchpool: please report it with the message. */
  INTERNAL: 'ERR_TORCHPOOL_INTERNAL',
} as const;

/** One of the values of {@link ErrorCodes}. */
export type TorchpoolErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** The error class of torchpool. `code` says what went wrong; `message` says where and why. */
export class TorchpoolError extends Error {
  readonly code: TorchpoolErrorCode;

  constructor(code: TorchpoolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TorchpoolError';
    this.code = code;
  }
}

/** Describes a received value for messages: `150 of type number`, `an instance of Array`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `'${value.length > 40 ? value.slice(0, 40) + '...' : value}' of type string`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${String(value)} of type ${typeof value}`;
  }
  if (typeof value === 'function') return 'a function';
  const name = (value as object).constructor?.name;
  return name ? `an instance of ${name}` : 'an object';
}

/** The one message shape for bad arguments: "Expected <what> for <where> but received <value>". */
export function invalidArg(where: string, expected: string, received: unknown): TorchpoolError {
  return invalidArgText(where, expected, describe(received));
}

/** Like {@link invalidArg}, with the received value already described ("32 elements"). */
export function invalidArgText(where: string, expected: string, receivedText: string): TorchpoolError {
  return new TorchpoolError(ErrorCodes.INVALID_ARG, `Expected ${expected} for ${where} but received ${receivedText}`);
}
