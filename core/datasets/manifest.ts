import canonicalize from "canonicalize";
import { z } from "zod";
import { Sha256Hex } from "../ids.ts";
import { sha256Hex } from "../util/digest.ts";
import { DatasetSpecSchema } from "./spec.ts";
import { SPLITS } from "./split.ts";

export const ManifestFileSchema = z
  .object({
    path: z.string().min(1),
    label: z.string().min(1),
    split: z.enum(SPLITS),
    sha256: Sha256Hex,
    size: z.number().int().nonnegative(),
  })
  .strict();

export const ManifestSchema = z
  .object({
    schema: z.literal("sightline.dataset/v1"),
    classes: z.array(z.string()).min(1),
    spec: DatasetSpecSchema,
    files: z.array(ManifestFileSchema),
  })
  .strict();

export type Manifest = z.infer<typeof ManifestSchema>;
export type ManifestFile = z.infer<typeof ManifestFileSchema>;

/**
 * The canonical bytes of a manifest: JSON Canonicalization Scheme (RFC 8785), files sorted by path. The dataset
 * id is their sha256, so the same files, labels and spec give the same id on any machine.
 */
export function canonicalManifest(manifest: Manifest): string {
  const files = [...manifest.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const text = canonicalize({ ...manifest, files });
  if (text === undefined) throw new Error("manifest cannot be serialised");
  return text;
}

export function datasetIdOf(manifest: Manifest): string {
  return sha256Hex(canonicalManifest(manifest));
}
