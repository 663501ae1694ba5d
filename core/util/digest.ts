import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { DIGEST } from "../ids.ts";
import { SightlineError } from "../errors.ts";

export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

export function digestOf(data: Uint8Array | string): string {
  return `sha256:${sha256Hex(data)}`;
}

export async function digestOfFile(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    const buf = chunk as Buffer;
    hash.update(buf);
    size += buf.length;
  }
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

/** Validates a digest and returns its hex part; the path layout `sha256/ab/abcdef…` comes from it. */
export function digestHex(digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m?.[1])
    throw new SightlineError(
      "invalid",
      "digest_invalid",
      `not a sha256 digest: ${JSON.stringify(digest)} (expected sha256:<64 hex>)`,
    );
  return m[1];
}

export function blobKey(digest: string): string {
  const hex = digestHex(digest);
  return `sha256/${hex.slice(0, 2)}/${hex}`;
}
