import sharp from "sharp";
import { seededRandom } from "../../core/util/random.ts";

/**
 * The demo's shifted traffic, as a new camera might produce it: 30 % brighter with Gaussian sensor noise
 * (σ = 0.1 of the range), same size and format. Seeded per image, so a rerun makes the same bytes.
 */
export async function shiftImage(png: Uint8Array, seed: number): Promise<Buffer> {
  // Greyscale stays one channel (sharp would otherwise decode it to three).
  const grey = (await sharp(png).metadata()).channels === 1;
  const { data, info } = await (grey ? sharp(png).toColourspace("b-w") : sharp(png))
    .raw()
    .toBuffer({ resolveWithObject: true });
  const rand = seededRandom(seed);
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) {
    const u = Math.max(rand(), 1e-12);
    const noise = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
    out[i] = Math.max(0, Math.min(255, Math.round(data[i]! * 1.3 + 25.5 * noise)));
  }
  return sharp(out, { raw: { width: info.width, height: info.height, channels: info.channels } })
    .toColourspace(info.channels === 1 ? "b-w" : "srgb")
    .png()
    .toBuffer();
}
