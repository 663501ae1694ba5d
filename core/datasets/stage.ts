import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { pathToFileURL } from "node:url";
import pLimit from "p-limit";
import type { BlobStore } from "../blobs/blob-store.ts";
import type { RunLayout, VertexImageLine } from "../jobs/trainer-contract.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { loadDataset } from "./load.ts";
import type { ManifestFile } from "./manifest.ts";
import type { Split } from "./split.ts";

const MARKER = ".staged";
const WRITES_AT_ONCE = 32;
/** The JSONL file of each split, named as Vertex AI names them. */
const VERTEX_SPLIT: Record<Split, keyof RunLayout["jsonl"]> = {
  train: "training",
  validation: "validation",
  test: "test",
};

export interface StagedDataset {
  classes: string[];
  counts: Record<Split, number>;
  /** False when an earlier staging of the same dataset id was reused. */
  written: boolean;
}

/**
 * Writes a registered dataset as files a trainer can read: `SPLIT/CLASS/IMAGE` and one JSONL file per split in
 * Vertex AI's image-classification import format, whose `imageGcsUri`s point at those files. The bytes come from
 * the blob store (checked against their digests). A dataset id names immutable content, so a folder staged once
 * is reused: it is written under a temporary name and renamed into place when complete.
 */
export async function stageDataset(
  rt: { blobs: BlobStore; meta: MetadataStore },
  datasetId: string,
  layout: Pick<RunLayout, "dataDir" | "jsonl">,
): Promise<StagedDataset> {
  const { manifest } = await loadDataset(rt, datasetId);
  const counts: Record<Split, number> = { train: 0, validation: 0, test: 0 };
  for (const f of manifest.files) counts[f.split]++;
  const result = { classes: manifest.classes, counts };
  if (existsSync(join(layout.dataDir, MARKER))) return { ...result, written: false };

  const tmp = `${layout.dataDir}.tmp-${randomUUID()}`;
  await rm(tmp, { recursive: true, force: true });
  try {
    const names = fileNames(manifest.files);
    const lines: Record<Split, string[]> = { train: [], validation: [], test: [] };
    await Promise.all(
      manifest.classes.flatMap((c) => Object.keys(counts).map((s) => mkdir(join(tmp, s, c), { recursive: true }))),
    );
    const limit = pLimit(WRITES_AT_ONCE);
    await Promise.all(
      manifest.files.map((f, i) =>
        limit(async () => {
          await rt.blobs.writeTo(`sha256:${f.sha256}`, join(tmp, f.split, f.label, names[i]!));
        }),
      ),
    );
    // The URIs name the final location, which exists once the folder is renamed.
    manifest.files.forEach((f, i) => {
      const line: VertexImageLine = {
        imageGcsUri: pathToFileURL(join(layout.dataDir, f.split, f.label, names[i]!)).href,
        classificationAnnotation: { displayName: f.label },
      };
      lines[f.split].push(JSON.stringify(line));
    });
    for (const split of Object.keys(lines) as Split[]) {
      const file = join(tmp, basename(layout.jsonl[VERTEX_SPLIT[split]]));
      await writeFile(file, lines[split].length ? `${lines[split].join("\n")}\n` : "");
    }
    await writeFile(join(tmp, MARKER), `${datasetId}\n`);
    // Another run may have staged the same dataset meanwhile: its folder is complete and may be in use, so keep it.
    if (existsSync(join(layout.dataDir, MARKER))) {
      await rm(tmp, { recursive: true, force: true });
      return { ...result, written: false };
    }
    // A folder without the marker is an interrupted staging: nothing can be reading it.
    await rm(layout.dataDir, { recursive: true, force: true });
    await mkdir(join(layout.dataDir, ".."), { recursive: true });
    try {
      await rename(tmp, layout.dataDir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== "ENOTEMPTY" && code !== "EEXIST") || !existsSync(join(layout.dataDir, MARKER))) throw err;
      await rm(tmp, { recursive: true, force: true });
      return { ...result, written: false };
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw new Error(`cannot stage dataset ${datasetId} into ${layout.dataDir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { ...result, written: true };
}

/** Each file's name inside SPLIT/CLASS/: its own base name, made unique with its hash where two collide. */
function fileNames(files: ManifestFile[]): string[] {
  const seen = new Set<string>();
  return files.map((f) => {
    let name = basename(f.path);
    const key = () => `${f.split}/${f.label}/${name}`;
    if (seen.has(key())) name = `${f.sha256.slice(0, 16)}${extname(name)}`;
    seen.add(key());
    return name;
  });
}
