/**
 * The promises of requests in flight, and how they settle: native code hands each batch of
 * finished requests over at once (native/binding/settled_records.h describes the layout), and
 * this file settles their promises. Small tensor outputs arrive as bytes in one shared slab and
 * each caller gets a copy of its own here, which costs far less on the JS thread than building
 * every result through Node-API.
 * @module
 */
import { type Dtype, DTYPES, type OutputTensor, type TensorData } from './tensor.js';

type Settler = (value: unknown) => void;
type SlabArray = TensorData & { slice(start: number, end: number): TensorData };

const TENSOR_RECORD = 0;
const VALUE_RECORD = 1;
const LIST_RECORD = 3;
const DICT_RECORD = 4;
// In native/binding/dtypes.h order: the slab names a dtype by its index there.
const DTYPE_NAMES = Object.keys(DTYPES) as Dtype[];
const DTYPE_ARRAYS = DTYPE_NAMES.map((name) => DTYPES[name].array);

/**
 * Requests of one thread's pool that were submitted and not settled yet, by ticket: their
 * promise's resolve and reject, and their inputs, which must stay alive while engines read the
 * TypedArrays in place.
 */
export class PendingRequests {
  #resolve: (Settler | undefined)[] = [];
  #reject: (Settler | undefined)[] = [];
  #inputs: unknown[] = [];
  #free: number[] = [];

  /** A new promise and the ticket that settles it. */
  add<T>(inputs: unknown): { ticket: number; promise: Promise<T> } {
    const ticket = this.#free.length > 0 ? (this.#free.pop() as number) : this.#resolve.length;
    const promise = new Promise<T>((resolve, reject) => {
      this.#resolve[ticket] = resolve as Settler;
      this.#reject[ticket] = reject;
    });
    this.#inputs[ticket] = inputs;
    return { ticket, promise };
  }

  /** Forgets a ticket (its promise is left as it is). */
  release(ticket: number): void {
    this.#resolve[ticket] = undefined;
    this.#reject[ticket] = undefined;
    this.#inputs[ticket] = undefined;
    this.#free.push(ticket);
  }

  /** Rejects a request native code refused (bad input, QUEUE_FULL, CLOSED). */
  reject(ticket: number, error: unknown): void {
    const reject = this.#reject[ticket];
    this.release(ticket);
    reject?.(error);
  }

  /** Settles every request of one batch from native code (the NativePool's onSettled); returns how many. */
  settle(slab: ArrayBuffer, values: unknown[]): number {
    const header = new Int32Array(slab, 0, new Int32Array(slab, 0, 2)[1]);
    const views: (SlabArray | undefined)[] = [];
    let word = 2;
    // One tensor in the slab (dtype index, byte offset, elements, ndim, dims...): a copy of its own.
    const tensorAt = (): OutputTensor => {
      const dtype = header[word] as number;
      const array = DTYPE_ARRAYS[dtype] as (typeof DTYPE_ARRAYS)[number];
      const bytes = array.BYTES_PER_ELEMENT;
      const start = (header[word + 1] as number) / bytes;
      const ndim = header[word + 3] as number;
      const view = (views[dtype] ??= new array(slab, 0, Math.floor(slab.byteLength / bytes)) as SlabArray);
      const shape: number[] = [];
      for (let d = 0; d < ndim; d++) shape.push(header[word + 4 + d] as number);
      const tensor: OutputTensor = { data: view.slice(start, start + (header[word + 2] as number)), shape, dtype: DTYPE_NAMES[dtype] as Dtype };
      word += 4 + ndim;
      return tensor;
    };
    const settled = header[0] as number;
    for (let n = settled; n > 0; n--) {
      const ticket = header[word] as number;
      const kind = header[word + 1];
      const resolve = this.#resolve[ticket];
      const reject = this.#reject[ticket];
      this.release(ticket);
      word += 2;
      if (kind === TENSOR_RECORD) {
        resolve?.(tensorAt());
      } else if (kind === LIST_RECORD) {
        const count = header[word++] as number;
        const list: OutputTensor[] = [];
        for (let i = 0; i < count; i++) list.push(tensorAt());
        resolve?.(list);
      } else if (kind === DICT_RECORD) {
        const count = header[word++] as number;
        const keys = values[header[word++] as number] as string[];
        const dict: Record<string, OutputTensor> = {};
        for (let i = 0; i < count; i++) dict[keys[i] as string] = tensorAt();
        resolve?.(dict);
      } else {
        const value = values[header[word++] as number];
        if (kind === VALUE_RECORD) resolve?.(value);
        else reject?.(value);
      }
    }
    return settled;
  }
}
