import { z } from "zod";
import { MODEL_NAME, ModelRefText } from "../ids.ts";
import { defineCollection } from "../meta/collection.ts";
import type { MetadataStore, Transaction } from "../meta/metadata-store.ts";
import { SightlineError } from "../errors.ts";

export const MODELS = "models";
export const VERSIONS = "model_versions";

export type Metrics = Record<string, number>;

/**
 * One registered model version. `metrics` are the trainer's on its dataset's held-out split; `evaluations` holds
 * metrics per evaluation dataset id, so a candidate and production can be compared on the same held-out data.
 */
export type ModelVersion = {
  name: string;
  version: number;
  createdAt: string;
  datasetId: string;
  requestId: string;
  runId: string;
  modelDigest: string;
  cardDigest: string;
  profileDigest: string | null;
  configHash: string;
  gitCommit: string | null;
  image: string | null;
  metrics: Metrics;
  evaluations: Record<string, Metrics>;
};

const MetricsSchema = z.record(z.string(), z.number());

// Loose objects: a field this code does not know (written by a newer release) is kept, not dropped on rewrite.
const ModelVersionSchema: z.ZodType<ModelVersion> = z.looseObject({
  name: z.string(),
  version: z.number().int(),
  createdAt: z.string(),
  datasetId: z.string(),
  requestId: z.string(),
  runId: z.string(),
  modelDigest: z.string(),
  cardDigest: z.string(),
  profileDigest: z.string().nullable(),
  configHash: z.string(),
  gitCommit: z.string().nullable(),
  image: z.string().nullable(),
  metrics: MetricsSchema,
  evaluations: z.record(z.string(), MetricsSchema),
});

/** One document per version, keyed `name:version` (see `versionId`). */
export const Versions = defineCollection({ name: VERSIONS, schema: ModelVersionSchema });

/** A registered model: its version counter. */
export type ModelEntry = { name: string; latestVersion: number; createdAt: string; updatedAt: string };

const ModelEntrySchema: z.ZodType<ModelEntry> = z.looseObject({
  name: z.string(),
  latestVersion: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** One document per model name. */
export const Models = defineCollection({ name: MODELS, schema: ModelEntrySchema });

export type NewModelVersion = Omit<ModelVersion, "version" | "createdAt" | "evaluations"> & {
  evaluations?: Record<string, Metrics>;
};

export { MODEL_NAME };

export const versionId = (name: string, version: number): string => `${name}:${version}`;

export class ModelNotFoundError extends SightlineError {
  /** The reference that is not registered: `name`, `name:version` or `name@alias`. */
  readonly ref: string;
  constructor(what: string) {
    super("not_found", "model_not_found", `${what} is not registered (see \`sightline models list\`)`);
    this.ref = what;
  }
}

/**
 * Registers a new version: the number comes from a counter on the model's document, allocated in the same
 * transaction that writes the version, so concurrent registrations get distinct, gap-free numbers.
 */
export async function registerVersion(
  meta: MetadataStore,
  input: NewModelVersion,
  /** More writes that must commit with the version or not at all (e.g. pointing `candidate` at it). */
  also?: (tx: Transaction, version: ModelVersion) => Promise<void>,
): Promise<ModelVersion> {
  if (!MODEL_NAME.test(input.name))
    throw new SightlineError(
      "invalid",
      "model_name_invalid",
      `invalid model name ${JSON.stringify(input.name)} (lower-case letters, digits, dashes)`,
    );
  return meta.transaction(async (tx) => {
    const model = await Models.in(tx).get(input.name);
    const version = (model?.latestVersion ?? 0) + 1;
    const now = new Date().toISOString();
    const record: ModelVersion = {
      ...input,
      version,
      createdAt: now,
      evaluations: input.evaluations ?? { [input.datasetId]: input.metrics },
    };
    Models.in(tx).set(input.name, {
      name: input.name,
      latestVersion: version,
      createdAt: model?.createdAt ?? now,
      updatedAt: now,
    });
    Versions.in(tx).set(versionId(input.name, version), record);
    await also?.(tx, record);
    return record;
  });
}

export async function getVersion(meta: MetadataStore, name: string, version: number): Promise<ModelVersion> {
  const found = await Versions.get(meta, versionId(name, version));
  if (!found) throw new ModelNotFoundError(`${name}:${version}`);
  return found;
}

export async function listVersions(meta: MetadataStore, name: string): Promise<ModelVersion[]> {
  const docs = await Versions.query(meta, { where: [{ field: "name", op: "==", value: name }] });
  return docs.map((d) => d.data).sort((a, b) => a.version - b.version);
}

export async function listModels(
  meta: MetadataStore,
): Promise<{ name: string; latestVersion: number; updatedAt: string }[]> {
  const docs = await Models.query(meta);
  return docs.map((d) => ({ name: d.data.name, latestVersion: d.data.latestVersion, updatedAt: d.data.updatedAt }));
}

/** Records metrics of a version on another evaluation dataset (e.g. production re-evaluated on a new test split). */
export async function recordEvaluation(
  meta: MetadataStore,
  name: string,
  version: number,
  datasetId: string,
  metrics: Metrics,
): Promise<void> {
  await meta.transaction(async (tx) => {
    const versions = Versions.in(tx);
    const current = await versions.get(versionId(name, version));
    if (!current) throw new ModelNotFoundError(`${name}:${version}`);
    versions.set(versionId(name, version), {
      ...current,
      evaluations: { ...current.evaluations, [datasetId]: metrics },
    });
  });
}

/** `NAME`, `NAME@ALIAS` or `NAME:VERSION`, as people write them. */
export type ModelRef = { name: string; alias?: string; version?: number };

export function parseModelRef(text: string): ModelRef {
  if (!ModelRefText.safeParse(text).success)
    throw new SightlineError(
      "invalid",
      "model_ref_invalid",
      `${JSON.stringify(text)} is not NAME, NAME@ALIAS or NAME:VERSION`,
    );
  const [, name = "", alias, version] = /^([^@:]+)(?:@(.+)|:(.+))?$/.exec(text) ?? [];
  return { name, ...(alias ? { alias } : {}), ...(version ? { version: Number(version) } : {}) };
}
