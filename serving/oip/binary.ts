import { ApiError } from "../errors.ts";

/**
 * The binary tensor data extension (Triton's `binary_tensor_data`, what tritonclient.http sends by default): the
 * body is the JSON inference header, `Inference-Header-Content-Length` bytes long, then each binary tensor's raw
 * bytes in the order of the header's tensors that carry `parameters.binary_data_size`. FP32 is little-endian;
 * each BYTES element is a 4-byte little-endian length and that many bytes.
 * https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md
 */
export const HEADER_LENGTH = "inference-header-content-length";

/** The JSON header and the bytes after it. */
export function splitBinaryBody(
  body: Buffer,
  headerLength: string | string[] | undefined,
  maxHeaderBytes: number,
): { header: unknown; binary: Buffer } {
  const declared =
    typeof headerLength === "string" && /^\d{1,12}$/.test(headerLength.trim()) ? Number(headerLength.trim()) : NaN;
  if (!Number.isSafeInteger(declared))
    throw new ApiError(
      "bad_request",
      `${HEADER_LENGTH} must be a byte count; got ${JSON.stringify(String(headerLength)).slice(0, 64)}`,
    );
  if (declared > body.length)
    throw new ApiError("bad_request", `${HEADER_LENGTH} is ${declared} but the body has ${body.length} bytes`);
  if (declared > maxHeaderBytes)
    throw new ApiError(
      "payload_too_large",
      `the JSON inference header is ${declared} bytes; at most ${maxHeaderBytes}`,
    );
  let header: unknown;
  try {
    header = JSON.parse(body.subarray(0, declared).toString("utf8"));
  } catch (err) {
    throw new ApiError(
      "bad_request",
      `the JSON inference header (the first ${declared} bytes) is not JSON: ${(err as Error).message}`,
    );
  }
  return { header, binary: body.subarray(declared) };
}

/** Cuts `binary` into the given sizes in order; they must account for every byte. */
export function cutBinary(binary: Buffer, sizes: number[]): Buffer[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== binary.length)
    throw new ApiError(
      "bad_request",
      `the inputs' binary_data_size add up to ${total} bytes, but ${binary.length} follow the JSON header`,
    );
  let offset = 0;
  return sizes.map((size) => binary.subarray(offset, (offset += size)));
}

/** BYTES elements from their length-prefixed wire form. */
export function readBytesElements(data: Buffer, where: string): Buffer[] {
  const elements: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    if (offset + 4 > data.length)
      throw new ApiError("bad_request", `${where}: BYTES element ${elements.length} has a truncated 4-byte length`);
    const length = data.readUInt32LE(offset);
    offset += 4;
    if (offset + length > data.length)
      throw new ApiError(
        "bad_request",
        `${where}: BYTES element ${elements.length} declares ${length} bytes; ${data.length - offset} are left`,
      );
    elements.push(data.subarray(offset, (offset += length)));
  }
  return elements;
}

/** BYTES elements in their length-prefixed wire form. */
export function writeBytesElements(elements: Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(elements.reduce((a, e) => a + 4 + e.length, 0));
  let offset = 0;
  for (const e of elements) {
    offset = out.writeUInt32LE(e.length, offset);
    out.set(e, offset);
    offset += e.length;
  }
  return out;
}

/** Little-endian FP32 from raw bytes (copied: a body slice need not be 4-byte aligned). */
export function readFloat32LE(data: Buffer): Float32Array {
  const values = new Float32Array(data.length / 4);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(i * 4, true);
  return values;
}

export function writeFloat32LE(values: ArrayLike<number>): Buffer {
  const out = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) out.writeFloatLE(values[i]!, i * 4);
  return out;
}

/** A binary response: the JSON header, then the binary outputs in the header's order. */
export function binaryBody(header: object, parts: Buffer[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  return { body: Buffer.concat([json, ...parts]), headerLength: json.length };
}
