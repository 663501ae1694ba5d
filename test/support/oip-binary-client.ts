// A small client of the binary tensor data extension, written from Triton's description
// (docs/protocol/extension_binary_data.md), not from serving's code: it builds requests as tritonclient.http
// does (JSON header, then each binary input's raw bytes, `Inference-Header-Content-Length` = the header's size)
// and reads binary responses back.

export type BinaryInput =
  | { name: string; datatype: "FP32"; shape: number[]; values: ArrayLike<number> }
  | { name: string; datatype: "BYTES"; shape: number[]; elements: Uint8Array[] };

export interface BinaryRequest {
  id?: string;
  parameters?: Record<string, string | number | boolean>;
  inputs: BinaryInput[];
  outputs?: { name: string; parameters?: Record<string, string | number | boolean> }[];
}

/** FP32: little-endian floats; BYTES: each element as a 4-byte little-endian length, then its bytes. */
export function tensorBytes(input: BinaryInput): Buffer {
  if (input.datatype === "FP32") {
    const out = Buffer.alloc(input.values.length * 4);
    for (let i = 0; i < input.values.length; i++) out.writeFloatLE(input.values[i]!, i * 4);
    return out;
  }
  return Buffer.concat(
    input.elements.flatMap((e) => {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(e.length);
      return [length, Buffer.from(e)];
    }),
  );
}

export function binaryRequest(request: BinaryRequest): { body: Buffer; headers: Record<string, string> } {
  const raw = request.inputs.map(tensorBytes);
  const header = {
    ...(request.id === undefined ? {} : { id: request.id }),
    ...(request.parameters === undefined ? {} : { parameters: request.parameters }),
    inputs: request.inputs.map((t, i) => ({
      name: t.name,
      datatype: t.datatype,
      shape: t.shape,
      parameters: { binary_data_size: raw[i]!.length },
    })),
    ...(request.outputs === undefined ? {} : { outputs: request.outputs }),
  };
  const json = Buffer.from(JSON.stringify(header), "utf8");
  return {
    body: Buffer.concat([json, ...raw]),
    headers: { "content-type": "application/octet-stream", "inference-header-content-length": String(json.length) },
  };
}

interface HeaderOutput {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: { binary_data_size?: number };
  data?: (number | string)[];
}

/** Each output's values: from `data`, or decoded from the binary part in the header's order. */
export function readOutputs(
  header: unknown,
  binary: Buffer | undefined,
): Map<string, { shape: number[]; datatype: string; values: (number | string)[] }> {
  const outputs = (header as { outputs: HeaderOutput[] }).outputs;
  const result = new Map<string, { shape: number[]; datatype: string; values: (number | string)[] }>();
  let offset = 0;
  for (const out of outputs) {
    const size = out.parameters?.binary_data_size;
    if (size === undefined) {
      result.set(out.name, { shape: out.shape, datatype: out.datatype, values: out.data ?? [] });
      continue;
    }
    if (!binary || offset + size > binary.length)
      throw new Error(`output ${out.name} declares ${size} bytes past the end of the body`);
    const part = binary.subarray(offset, offset + size);
    offset += size;
    const values: (number | string)[] = [];
    if (out.datatype === "FP32") for (let i = 0; i < part.length; i += 4) values.push(part.readFloatLE(i));
    else if (out.datatype === "BYTES") {
      for (let i = 0; i < part.length;) {
        const n = part.readUInt32LE(i);
        values.push(part.subarray(i + 4, i + 4 + n).toString("utf8"));
        i += 4 + n;
      }
    } else throw new Error(`unexpected datatype ${out.datatype}`);
    result.set(out.name, { shape: out.shape, datatype: out.datatype, values });
  }
  if (binary && offset !== binary.length)
    throw new Error(`${binary.length - offset} bytes after the last binary output`);
  return result;
}
