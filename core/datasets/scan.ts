import { readdir } from "node:fs/promises";
import { extname, join, relative, sep } from "node:path";
import { SPLITS, type Split } from "./split.ts";

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg", ".webp"]);

export interface ScannedFile {
  /** Relative to the dataset root, `/`-separated. */
  path: string;
  label: string;
  declaredSplit?: Split;
}

/**
 * Finds the images of a dataset folder: `ROOT/<class>/…` or, with declared splits, `ROOT/<split>/<class>/…`
 * (split folders named train, validation, test). Other files at the root (dataset.yaml, LICENSE) are not images.
 */
export async function scanDataset(root: string): Promise<{ files: ScannedFile[]; ignored: string[] }> {
  const top = await readdir(root, { withFileTypes: true });
  const topDirs = top.filter((e) => e.isDirectory() && !e.name.startsWith(".")).map((e) => e.name);
  const splitLayout = topDirs.length > 0 && topDirs.every((d) => (SPLITS as readonly string[]).includes(d));
  const files: ScannedFile[] = [];
  const ignored: string[] = [];
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile()) continue;
    const rel = relative(root, join(e.parentPath, e.name)).split(sep).join("/");
    const parts = rel.split("/");
    if (parts.some((p) => p.startsWith("."))) continue;
    const depth = splitLayout ? 3 : 2;
    if (parts.length !== depth || !IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase())) {
      if (parts.length > 1) ignored.push(rel);
      continue;
    }
    files.push(
      splitLayout
        ? { path: rel, label: parts[1] as string, declaredSplit: parts[0] as Split }
        : { path: rel, label: parts[0] as string },
    );
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, ignored: ignored.sort() };
}
