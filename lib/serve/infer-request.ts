/**
 * Parses and checks a v2 inference request: JSON tensors, or the binary tensor data extension
 * (a JSON header of `Inference-Header-Content-Length` bytes followed by the raw tensors, each
 * input saying its `binary_data_size`). Every field is checked with a 400 message that names it.
 * @module
 */
import type { Dtype, Tensor } from '../tensor.js';
import type { ServeLimits } from './config.js';
import { dtypeOf, fromBinary, fromJson } from './datatypes.js';
import { HttpError } from './http-error.js';
import type { ServedModel } from './models.js';

export interface RequestedOutput {
  name: string;
  binary: boolean;
}

export interface ParsedInferRequest {
  id?: string;
  tensors: Map<string, Tensor>;
  /** Outputs asked for (all when undefined), each as binary or JSON. */
  outputs?: RequestedOutput[];
  /** `binary_data_output` of the request: every output in binary unless it says otherwise. */
  binaryByDefault: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parameters(value: unknown, where: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isObject(value)) throw new HttpError(400, `${where}.parameters must be an object`);
  return value;
}

/** Splits the body into its JSON header and binary section. */
function split(body: Buffer, headerLength: string | undefined): { json: unknown; binary: Buffer } {
  let jsonLength = body.length;
  if (headerLength !== undefined) {
    jsonLength = Number(headerLength);
    if (!Number.isSafeInteger(jsonLength) || jsonLength < 0 || jsonLength > body.length) {
      throw new HttpError(400, `Inference-Header-Content-Length must be an integer between 0 and the body length (${body.length}), got '${headerLength}'`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(body.subarray(0, jsonLength).toString('utf8'));
  } catch (error) {
    throw new HttpError(400, `the request is not valid JSON: ${(error as Error).message}`);
  }
  return { json, binary: body.subarray(jsonLength) };
}

/**
 * Checks one input's name, shape and datatype against the model (the HTTP and gRPC forms share
 * it); returns its dtype and element count. HttpError 400 otherwise.
 */
export function checkInput(model: ServedModel, name: unknown, shape: unknown, datatype: unknown, where: string, limits: ServeLimits): { meta: ServedModel['inputs'][number]; dtype: Dtype; count: number; shape: number[] } {
  if (typeof name !== 'string' || name.length === 0) throw new HttpError(400, `${where}.name must be a non-empty string`);
  const meta = model.inputs.find((m) => m.name === name);
  if (!meta) throw new HttpError(400, `${where}: model ${model.name} has no input '${name}' (inputs: ${model.inputs.map((m) => m.name).join(', ')})`);
  if (!Array.isArray(shape) || shape.length > 16 || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new HttpError(400, `${where}.shape must be an array of at most 16 non-negative integers`);
  }
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  if (count > limits.maxTensorElements) {
    throw new HttpError(400, `${where}: ${count} elements exceed the limit of ${limits.maxTensorElements} per tensor`);
  }
  const dtype = dtypeOf(datatype, `${where}.datatype`);
  const declared = meta.declared !== false;
  if (declared && meta.datatype !== datatype) throw new HttpError(400, `${where}: input '${name}' takes ${meta.datatype}, got ${String(datatype)}`);
  if (declared && meta.shape.length !== shape.length) {
    throw new HttpError(400, `${where}: input '${name}' has ${meta.shape.length} dimensions [${meta.shape.join(', ')}], got [${shape.join(', ')}]`);
  }
  meta.shape.forEach((d, k) => {
    if (declared && d >= 0 && shape[k] !== d) throw new HttpError(400, `${where}: input '${name}' needs shape [${meta.shape.join(', ')}] (-1 varies), got [${shape.join(', ')}]`);
  });
  return { meta, dtype, count, shape: [...(shape as number[])] };
}

export function parseInferRequest(body: Buffer, headerLength: string | undefined, model: ServedModel, limits: ServeLimits): ParsedInferRequest {
  const { json, binary } = split(body, headerLength);
  if (!isObject(json)) throw new HttpError(400, 'the request must be a JSON object');
  if (json.id !== undefined && typeof json.id !== 'string') throw new HttpError(400, 'id must be a string');
  const requestParameters = parameters(json.parameters, 'request');
  if (!Array.isArray(json.inputs) || json.inputs.length === 0) throw new HttpError(400, 'inputs must be a non-empty array');

  const tensors = new Map<string, Tensor>();
  let offset = 0;
  json.inputs.forEach((input: unknown, i: number) => {
    const where = `inputs[${i}]`;
    if (!isObject(input)) throw new HttpError(400, `${where} must be an object`);
    const { name, shape, datatype } = input;
    const { dtype, count } = checkInput(model, name, shape, datatype, where, limits);
    if (tensors.has(name as string)) throw new HttpError(400, `${where}: input '${String(name)}' is given twice`);
    const binarySize = parameters(input.parameters, where).binary_data_size;
    let data;
    if (binarySize !== undefined) {
      if (!Number.isSafeInteger(binarySize) || (binarySize as number) < 0) throw new HttpError(400, `${where}.parameters.binary_data_size must be a non-negative integer`);
      if (input.data !== undefined) throw new HttpError(400, `${where}: give either data or binary_data_size, not both`);
      const end = offset + (binarySize as number);
      if (end > binary.length) throw new HttpError(400, `${where}: binary_data_size ${String(binarySize)} runs past the end of the body`);
      data = fromBinary(binary.subarray(offset, end), dtype, count, where);
      offset = end;
    } else {
      if (input.data === undefined) throw new HttpError(400, `${where}: data (or parameters.binary_data_size) is required`);
      data = fromJson(input.data, dtype, count, where);
    }
    tensors.set(name as string, { data, shape: [...(shape as number[])], dtype });
  });
  if (offset !== binary.length) throw new HttpError(400, `the body has ${binary.length - offset} bytes after the last binary input`);
  for (const meta of model.inputs) {
    if (!tensors.has(meta.name)) throw new HttpError(400, `input '${meta.name}' is missing`);
  }

  const binaryByDefault = requestParameters.binary_data_output === true;
  let outputs: RequestedOutput[] | undefined;
  if (json.outputs !== undefined) {
    if (!Array.isArray(json.outputs)) throw new HttpError(400, 'outputs must be an array');
    outputs = json.outputs.map((output: unknown, i: number) => {
      const where = `outputs[${i}]`;
      if (!isObject(output) || typeof output.name !== 'string') throw new HttpError(400, `${where}.name must be a string`);
      const binary = parameters(output.parameters, where).binary_data;
      if (binary !== undefined && typeof binary !== 'boolean') throw new HttpError(400, `${where}.parameters.binary_data must be a boolean`);
      return { name: output.name, binary: binary ?? binaryByDefault };
    });
  }
  return { ...(json.id !== undefined ? { id: json.id as string } : {}), tensors, ...(outputs ? { outputs } : {}), binaryByDefault };
}
