/**
 * Errors as the server answers them: `{"error": "..."}` with the status code the Open Inference
 * Protocol clients expect.
 * @module
 */
import { ErrorCodes, TorchpoolError } from '../errors.js';

/** An error with the HTTP status to answer it with. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The status and message for any error thrown while serving a request. */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof TorchpoolError) {
    const first = error.message.split('\n')[0] ?? error.message;
    switch (error.code) {
      case ErrorCodes.INVALID_ARG:
      case ErrorCodes.FORWARD: // the model rejected the input (shape, dtype, a raise in forward)
        return new HttpError(400, first);
      case ErrorCodes.QUEUE_FULL:
        return new HttpError(429, first);
      case ErrorCodes.TIMEOUT:
        return new HttpError(504, first);
      case ErrorCodes.CLOSED:
      case ErrorCodes.NO_DEVICE:
        return new HttpError(503, first);
      case ErrorCodes.ABORTED:
        return new HttpError(499, first); // the client went away; nobody reads this
      default:
        return new HttpError(500, first);
    }
  }
  const fastify = error as { statusCode?: number; message?: string };
  if (typeof fastify?.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    return new HttpError(fastify.statusCode, fastify.message ?? 'bad request');
  }
  return new HttpError(500, error instanceof Error ? error.message : String(error));
}
