/**
 * The way in: the first request of a turn of the event loop goes to native code at once, so it
 * runs while the caller's code goes on; the others made in the same turn go together at its end
 * (a microtask), as flat records (native/binding/pool_submit.cc describes them). One call and one
 * lock of the shared queue serve them all instead of one each, a lone tensor's data and shape
 * travel without N-API reading an object's properties, and a burst (the callers that one batch
 * of results resumes) reaches the engines at once and merges into one batch.
 * @module
 */
import type { NativePool } from './native-types.js';
import type { RequestControl } from './request-control.js';
import { DTYPES, type Dtype, type Tensor } from './tensor.js';
import type { NormalizedInputs } from './validate.js';

const LONE_TENSOR = 0;
const ARGUMENTS = 1;
const BATCHABLE = 1;
const HAS_OUTPUT = 2;
// In native/binding/dtypes.h order.
const DTYPE_INDEX = new Map(Object.keys(DTYPES).map((name, i) => [name as Dtype, i]));

/** What a refused request rejects with, by ticket. */
export type RefusalHandler = (ticket: number, error: unknown) => void;

export class SubmissionQueue {
  readonly #native: NativePool;
  readonly #onRefused: RefusalHandler;
  readonly #endTurn = (): void => {
    if (this.#held) {
      // A tick queued from a microtask runs once the microtask queue is empty: after every
      // resumed caller, however many awaits deep, made its request.
      this.#held = false;
      process.nextTick(this.#endTurn);
      return;
    }
    this.flush();
    this.#turnOpen = false;
  };
  #turnOpen = false;
  #held = false;
  #objects: unknown[] = [];
  #numbers = new Float64Array(1024);
  #words = 0;
  #count = 0;
  #tickets: number[] = [];

  constructor(native: NativePool, onRefused: RefusalHandler) {
    this.#native = native;
    this.#onRefused = onRefused;
  }

  /** Submits a checked request: now if it is the turn's first, else when the turn's microtasks run (or at flush()). */
  add(inputs: NormalizedInputs, lone: Tensor | undefined, ticket: number, id: number, control: RequestControl): void {
    const first = !this.#turnOpen;
    if (first) {
      this.#turnOpen = true;
      queueMicrotask(this.#endTurn);
    }
    const { priority, timeoutMs, batchable, output } = control;
    const ndim = lone === undefined ? 0 : lone.shape.length;
    if (this.#words + 8 + ndim > this.#numbers.length) {
      const grown = new Float64Array(2 * (this.#numbers.length + 8 + ndim));
      grown.set(this.#numbers.subarray(0, this.#words));
      this.#numbers = grown;
    }
    const numbers = this.#numbers;
    let w = this.#words;
    numbers[w++] = lone === undefined ? ARGUMENTS : LONE_TENSOR;
    numbers[w++] = ticket;
    numbers[w++] = id;
    numbers[w++] = priority;
    numbers[w++] = timeoutMs;
    numbers[w++] = (batchable ? BATCHABLE : 0) | (output === undefined ? 0 : HAS_OUTPUT);
    if (lone === undefined) {
      this.#objects.push(inputs.args, inputs.kwargs);
    } else {
      numbers[w++] = lone.dtype === undefined ? -1 : (DTYPE_INDEX.get(lone.dtype) ?? -2);
      numbers[w++] = ndim;
      for (let d = 0; d < ndim; d++) numbers[w++] = lone.shape[d] as number;
      this.#objects.push(lone.data);
    }
    if (output !== undefined) this.#objects.push(output);
    this.#words = w;
    this.#count++;
    this.#tickets.push(ticket);
    if (first) this.flush();
  }

  /**
   * Called after one batch of results resumed several callers: their requests (each caller's
   * next one, made over the following microtasks) all wait for the end of the turn, none goes
   * alone. Sent one at a time, the first would wake an idle engine for a batch of one, and the
   * rest would follow in fragments.
   */
  holdTurn(): void {
    this.#held = true;
    if (this.#turnOpen) return;
    this.#turnOpen = true;
    queueMicrotask(this.#endTurn);
  }

  /** Hands everything queued to native code now (close(), cancel() and stats() call it first). */
  flush(): void {
    if (this.#count === 0) return;
    const objects = this.#objects;
    const count = this.#count;
    const tickets = this.#tickets;
    this.#objects = [];
    this.#tickets = [];
    this.#count = 0;
    this.#words = 0;
    let refused: unknown[] | undefined;
    try {
      refused = this.#native.submit(objects, this.#numbers, count);
    } catch (error) {
      for (const ticket of tickets) this.#onRefused(ticket, error);
      return;
    }
    if (refused === undefined) return;
    for (let i = 0; i < refused.length; i += 2) this.#onRefused(refused[i] as number, refused[i + 1]);
  }
}
