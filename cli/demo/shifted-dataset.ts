import { cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pLimit from "p-limit";
import { shiftImage } from "./shift.ts";

export interface ShiftedDataset {
  dir: string;
  added: { train: number; test: number };
}

/**
 * The sample plus newly labelled shifted images, as a labelling team would deliver them after the shift: shifted
 * copies of every `trainEvery`-th training image and of every held-out image, under their classes. Idempotent: the
 * same inputs give the same files (and so the same dataset id).
 */
export async function buildShiftedDataset(
  sample: string,
  dir: string,
  options: { trainEvery?: number } = {},
): Promise<ShiftedDataset> {
  const every = options.trainEvery ?? 2;
  await cp(sample, dir, { recursive: true });
  const limit = pLimit(8);
  const added = { train: 0, test: 0 };
  for (const split of ["train", "test"] as const) {
    for (const label of (await readdir(join(sample, split))).sort()) {
      const files = (await readdir(join(sample, split, label)))
        .sort()
        .filter((_, i) => split === "test" || i % every === 0);
      await mkdir(join(dir, split, label), { recursive: true });
      await Promise.all(
        files.map((file, i) =>
          limit(async () => {
            const shifted = await shiftImage(
              await readFile(join(sample, split, label, file)),
              seedOf(`${split}/${label}/${file}`, i),
            );
            await writeFile(join(dir, split, label, `shifted-${file}`), shifted);
            added[split]++;
          }),
        ),
      );
    }
  }
  const yaml = (await readFile(join(sample, "dataset.yaml"), "utf8")).replace(
    /^name: .*$/m,
    "name: fashion-mnist-sample-shifted",
  );
  await writeFile(join(dir, "dataset.yaml"), yaml);
  return { dir, added };
}

function seedOf(text: string, salt: number): number {
  let h = 2166136261 ^ salt;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
