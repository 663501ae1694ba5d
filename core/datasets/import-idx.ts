import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pLimit from "p-limit";
import sharp from "sharp";
import { readIdx } from "./idx.ts";
import { SightlineError } from "../errors.ts";

export interface ImportIdxOptions {
  images: string;
  labels: string;
  out: string;
  /** Class names by label index; default the label numbers. */
  names?: string[];
  /** Stop after this many images (in file order). */
  limit?: number;
  /** Take at most this many images of each class (in file order), for a balanced sample. */
  perClass?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ImportIdxResult {
  written: number;
  perClass: Record<string, number>;
}

/** Writes the images of an IDX pair as PNG files in one folder per class name: `OUT/<class>/<index>.png`. */
export async function importIdx(options: ImportIdxOptions): Promise<ImportIdxResult> {
  const images = await readIdx(options.images);
  const labels = await readIdx(options.labels);
  if (images.dims.length !== 3)
    throw new SightlineError(
      "invalid",
      "idx_invalid",
      `${options.images}: expected N×rows×cols images, got ${images.dims.join("×")}`,
    );
  if (labels.dims.length !== 1)
    throw new SightlineError(
      "invalid",
      "idx_invalid",
      `${options.labels}: expected a vector of labels, got ${labels.dims.join("×")}`,
    );
  const [count = 0, rows = 0, cols = 0] = images.dims;
  if (labels.dims[0] !== count) {
    throw new SightlineError(
      "invalid",
      "idx_invalid",
      `${options.images} holds ${count} images but ${options.labels} holds ${labels.dims[0]} labels`,
    );
  }
  const nameOf = (label: number): string => {
    if (!options.names) return String(label);
    const name = options.names[label];
    if (name === undefined)
      throw new SightlineError(
        "invalid",
        "idx_invalid",
        `label ${label} has no name (--names lists ${options.names.length})`,
      );
    return name;
  };

  const chosen: number[] = [];
  const taken = new Map<number, number>();
  for (let i = 0; i < count && chosen.length < (options.limit ?? Infinity); i++) {
    const label = labels.data[i] ?? 0;
    if ((taken.get(label) ?? 0) >= (options.perClass ?? Infinity)) continue;
    taken.set(label, (taken.get(label) ?? 0) + 1);
    chosen.push(i);
  }

  const width = String(count - 1).length;
  const size = rows * cols;
  const limit = pLimit(16);
  const perClass: Record<string, number> = {};
  for (const i of new Set(chosen.map((i) => labels.data[i] ?? 0)))
    await mkdir(join(options.out, nameOf(i)), { recursive: true });
  let done = 0;
  await Promise.all(
    chosen.map((i) =>
      limit(async () => {
        const name = nameOf(labels.data[i] ?? 0);
        const dir = join(options.out, name);
        const pixels = images.data.subarray(i * size, (i + 1) * size);
        const png = await sharp(pixels, { raw: { width: cols, height: rows, channels: 1 } })
          .toColourspace("b-w")
          .png({ compressionLevel: 9, adaptiveFiltering: true })
          .toBuffer();
        await writeFile(join(dir, `${String(i).padStart(width, "0")}.png`), png);
        perClass[name] = (perClass[name] ?? 0) + 1;
        options.onProgress?.(++done, chosen.length);
      }),
    ),
  );
  return { written: chosen.length, perClass };
}
