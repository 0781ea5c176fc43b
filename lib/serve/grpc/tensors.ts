/**
 * ModelInferRequest -> tensors and NamedOutputs -> ModelInferResponse: inputs as typed contents
 * or `raw_input_contents`, outputs as `raw_output_contents` (as Triton answers; typed contents
 * when the request sets `binary_data_output: false`). The same checks and limits as the HTTP form.
 * @module
 */
import { DTYPES, type Dtype, type Tensor, type TensorData } from '../../tensor.js';
import type { ServeLimits } from '../config.js';
import { datatypeOf, fromBinary } from '../datatypes.js';
import { HttpError } from '../http-error.js';
import { checkInput, type ParsedInferRequest } from '../infer-request.js';
import type { NamedOutput, ServedModel } from '../models.js';

/** InferParameter as proto-loader decodes it. */
interface Parameter {
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  parameter_choice?: string;
}

interface Contents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: string[];
  uint_contents: number[];
  uint64_contents: string[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Buffer[];
}

export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, Parameter>;
  inputs: { name: string; datatype: string; shape: string[]; parameters: Record<string, Parameter>; contents: Contents | null }[];
  outputs: { name: string; parameters: Record<string, Parameter> }[];
  raw_input_contents: Buffer[];
}

/** int64 decimal strings (proto-loader's form) as numbers, checked. */
function shapeOf(values: string[], where: string): number[] {
  return values.map((v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new HttpError(400, `${where}.shape must hold non-negative integers, got ${v}`);
    return n;
  });
}

function fromContents(contents: Contents, dtype: Dtype, count: number, where: string): TensorData {
  const pick = (values: unknown[], field: string): unknown[] => {
    if (values.length !== count) throw new HttpError(400, `${where}: shape needs ${count} elements, contents.${field} has ${values.length}`);
    return values;
  };
  const out = new DTYPES[dtype].array(count) as TensorData;
  switch (dtype) {
    case 'bool': (out as Uint8Array).set(pick(contents.bool_contents, 'bool_contents').map((b) => (b ? 1 : 0))); break;
    case 'int8': case 'int16': case 'int32': (out as Int32Array).set(pick(contents.int_contents, 'int_contents') as number[]); break;
    case 'uint8': (out as Uint8Array).set(pick(contents.uint_contents, 'uint_contents') as number[]); break;
    case 'int64': (out as BigInt64Array).set((pick(contents.int64_contents, 'int64_contents') as string[]).map((v) => BigInt(v))); break;
    case 'float32': (out as Float32Array).set(pick(contents.fp32_contents, 'fp32_contents') as number[]); break;
    case 'float64': (out as Float64Array).set(pick(contents.fp64_contents, 'fp64_contents') as number[]); break;
    default: throw new HttpError(400, `${where}: ${datatypeOf(dtype)} has no typed contents field; send it in raw_input_contents`);
  }
  return out;
}

/** Checks a ModelInferRequest against the model and builds its tensors. */
export function parseGrpcInfer(request: ModelInferRequest, model: ServedModel, limits: ServeLimits): ParsedInferRequest {
  if (request.inputs.length === 0) throw new HttpError(400, 'inputs must not be empty');
  const raw = request.raw_input_contents;
  if (raw.length > 0 && raw.length !== request.inputs.length) {
    throw new HttpError(400, `raw_input_contents has ${raw.length} entries for ${request.inputs.length} inputs (one per input, in order)`);
  }
  const tensors = new Map<string, Tensor>();
  request.inputs.forEach((input, i) => {
    const where = `inputs[${i}]`;
    const { dtype, count, shape } = checkInput(model, input.name, shapeOf(input.shape, where), input.datatype, where, limits);
    if (tensors.has(input.name)) throw new HttpError(400, `${where}: input '${input.name}' is given twice`);
    let data: TensorData;
    if (raw.length > 0) {
      if (input.contents !== null && hasContents(input.contents)) throw new HttpError(400, `${where}: give contents or raw_input_contents, not both`);
      // Copied: the Buffer is a view at any offset in gRPC's own memory, not aligned for the dtype.
      data = fromBinary(raw[i] as Buffer, dtype, count, where);
    } else {
      if (input.contents === null) throw new HttpError(400, `${where}: contents (or raw_input_contents) is required`);
      data = fromContents(input.contents, dtype, count, where);
    }
    tensors.set(input.name, { data, shape, dtype });
  });
  for (const meta of model.inputs) if (!tensors.has(meta.name)) throw new HttpError(400, `input '${meta.name}' is missing`);
  const binaryByDefault = request.parameters.binary_data_output?.bool_param !== false;
  const outputs = request.outputs.length > 0 ? request.outputs.map((o) => ({ name: o.name, binary: binaryByDefault })) : undefined;
  return { ...(request.id ? { id: request.id } : {}), tensors, ...(outputs ? { outputs } : {}), binaryByDefault };
}

function hasContents(c: Contents): boolean {
  return c.bool_contents.length + c.int_contents.length + c.int64_contents.length + c.uint_contents.length +
    c.uint64_contents.length + c.fp32_contents.length + c.fp64_contents.length + c.bytes_contents.length > 0;
}

function toContents(tensor: NamedOutput['tensor']): Partial<Contents> {
  const data = tensor.data;
  switch (tensor.dtype) {
    case 'bool': return { bool_contents: Array.from(data as Uint8Array, (v) => v !== 0) };
    case 'int8': case 'int16': case 'int32': return { int_contents: Array.from(data as Int32Array) };
    case 'uint8': return { uint_contents: Array.from(data as Uint8Array) };
    case 'int64': return { int64_contents: Array.from(data as BigInt64Array, (v) => v.toString()) };
    case 'float32': return { fp32_contents: Array.from(data as Float32Array) };
    case 'float64': return { fp64_contents: Array.from(data as Float64Array) };
    default: return {};
  }
}

/** The ModelInferResponse for `outputs` (all of them, or those the request named). */
export function encodeGrpcInfer(model: { name: string; version: string }, request: ParsedInferRequest, outputs: NamedOutput[]) {
  const selected = request.outputs
    ? request.outputs.map((wanted) => {
      const output = outputs.find((o) => o.name === wanted.name);
      if (!output) throw new HttpError(400, `model ${model.name} has no output '${wanted.name}' (outputs: ${outputs.map((o) => o.name).join(', ')})`);
      return output;
    })
    : outputs;
  // One form for all outputs (the protocol forbids mixing); FP16 has no typed field, so raw.
  const raw = request.binaryByDefault || selected.some((o) => o.tensor.dtype === 'float16');
  return {
    model_name: model.name,
    model_version: model.version,
    id: request.id ?? '',
    outputs: selected.map(({ name, tensor }) => ({
      name,
      datatype: datatypeOf(tensor.dtype),
      shape: tensor.shape.map(String),
      ...(raw ? {} : { contents: toContents(tensor) }),
    })),
    raw_output_contents: raw ? selected.map(({ tensor }) => Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength)) : [],
  };
}
