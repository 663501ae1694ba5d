import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { SightlineError } from "../errors.ts";

/** An IDX array (the format of MNIST and Fashion-MNIST): unsigned bytes with their dimensions. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;

/** Reads an IDX file, gzip-compressed or not. Only unsigned-byte arrays (all MNIST-style files) are accepted. */
export async function readIdx(path: string): Promise<IdxArray> {
  let buf = await readFile(path);
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (err) {
      throw new SightlineError("invalid", "idx_invalid", `${path}: corrupt gzip: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  return parseIdx(buf, path);
}

export function parseIdx(buf: Buffer, where = "IDX data"): IdxArray {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0)
    throw new SightlineError("invalid", "idx_invalid", `${where}: not an IDX file (bad magic number)`);
  if (buf[2] !== UBYTE)
    throw new SightlineError(
      "invalid",
      "idx_invalid",
      `${where}: IDX element type 0x${buf[2]?.toString(16)} is not supported (only unsigned bytes)`,
    );
  const rank = buf[3] ?? 0;
  if (rank < 1 || buf.length < 4 + 4 * rank)
    throw new SightlineError("invalid", "idx_invalid", `${where}: truncated IDX header`);
  const dims = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const expected = dims.reduce((a, b) => a * b, 1);
  const data = buf.subarray(4 + 4 * rank);
  if (data.length !== expected) {
    throw new SightlineError(
      "invalid",
      "idx_invalid",
      `${where}: IDX declares ${dims.join("×")} = ${expected} bytes of data but holds ${data.length}`,
    );
  }
  return { dims, data };
}
