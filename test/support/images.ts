import sharp from "sharp";

/** A valid PNG header declaring 100000×100000 pixels, with a tiny (invalid) body: a decompression-bomb stand-in. */
export async function grey100k(): Promise<Buffer> {
  const small = await sharp(Buffer.alloc(4), { raw: { width: 2, height: 2, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toBuffer();
  const out = Buffer.from(small);
  out.writeUInt32BE(100_000, 16);
  out.writeUInt32BE(100_000, 20);
  return out;
}
