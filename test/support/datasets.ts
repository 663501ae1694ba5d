import { cp, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";

export const SAMPLE = fileURLToPath(new URL("../../data/sample", import.meta.url));

/** A small real dataset: the first `perClass` sample images of a few classes, copied to a temp folder. */
export async function smallDataset(
  options: { classes?: string[]; perClass?: number; splits?: boolean } = {},
): Promise<string> {
  const classes = options.classes ?? ["bag", "sneaker", "trouser"];
  const perClass = options.perClass ?? 8;
  const dir = await mkdtemp(join(tmpdir(), "sightline-ds-"));
  const { readdir } = await import("node:fs/promises");
  for (const c of classes) {
    for (const split of options.splits ? ["train", "test"] : ["train"]) {
      const files = (await readdir(join(SAMPLE, split, c))).sort().slice(0, perClass);
      for (const f of files) await cp(join(SAMPLE, split, c, f), join(dir, ...(options.splits ? [split] : []), c, f));
    }
  }
  return dir;
}

export async function grayPng(width: number, height: number, value = 128): Promise<Buffer> {
  return sharp(Buffer.alloc(width * height, value), { raw: { width, height, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toBuffer();
}
