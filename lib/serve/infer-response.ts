/**
 * Encodes a v2 inference response: outputs as JSON data, or with the binary tensor data
 * extension (the JSON header, then each binary output's bytes; `Inference-Header-Content-Length`
 * says where the JSON ends).
 * @module
 */
import { datatypeOf, toBinary, toJson } from './datatypes.js';
import { HttpError } from './http-error.js';
import type { NamedOutput } from './models.js';
import type { ParsedInferRequest } from './infer-request.js';

export interface EncodedResponse {
  body: Buffer | string;
  /** Set with binary outputs: the JSON header's length in bytes. */
  headerLength?: number;
}

export function encodeInferResponse(
  model: { name: string; version: string },
  request: ParsedInferRequest,
  outputs: NamedOutput[],
): EncodedResponse {
  let selected: { output: NamedOutput; binary: boolean }[];
  if (request.outputs) {
    selected = request.outputs.map((wanted) => {
      const output = outputs.find((o) => o.name === wanted.name);
      if (!output) throw new HttpError(400, `model ${model.name} has no output '${wanted.name}' (outputs: ${outputs.map((o) => o.name).join(', ')})`);
      return { output, binary: wanted.binary };
    });
  } else {
    selected = outputs.map((output) => ({ output, binary: request.binaryByDefault }));
  }
  const blobs: Uint8Array[] = [];
  const json = {
    model_name: model.name,
    model_version: model.version,
    ...(request.id !== undefined ? { id: request.id } : {}),
    outputs: selected.map(({ output, binary }) => {
      const { tensor } = output;
      const entry = { name: output.name, datatype: datatypeOf(tensor.dtype), shape: tensor.shape };
      if (!binary) return { ...entry, data: toJson(tensor.data, tensor.dtype) };
      const bytes = toBinary(tensor.data);
      blobs.push(bytes);
      return { ...entry, parameters: { binary_data_size: bytes.byteLength } };
    }),
  };
  const text = JSON.stringify(json);
  if (blobs.length === 0) return { body: text };
  const header = Buffer.from(text, 'utf8');
  return { body: Buffer.concat([header, ...blobs]), headerLength: header.length };
}
