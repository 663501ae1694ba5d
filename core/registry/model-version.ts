import { MODEL_NAME, ModelRefText } from "../ids.ts";
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

export type NewModelVersion = Omit<ModelVersion, "version" | "createdAt" | "evaluations"> & { evaluations?: Record<string, Metrics> };

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
  if (!MODEL_NAME.test(input.name)) throw new SightlineError("invalid", "model_name_invalid", `invalid model name ${JSON.stringify(input.name)} (lower-case letters, digits, dashes)`);
  return meta.transaction(async (tx) => {
    const model = await tx.get(MODELS, input.name);
    const version = Number(model?.data.latestVersion ?? 0) + 1;
    const now = new Date().toISOString();
    const record: ModelVersion = { ...input, version, createdAt: now, evaluations: input.evaluations ?? { [input.datasetId]: input.metrics } };
    tx.set(MODELS, input.name, { name: input.name, latestVersion: version, createdAt: String(model?.data.createdAt ?? now), updatedAt: now });
    tx.set(VERSIONS, versionId(input.name, version), record);
    await also?.(tx, record);
    return record;
  });
}

export async function getVersion(meta: MetadataStore, name: string, version: number): Promise<ModelVersion> {
  const doc = await meta.get(VERSIONS, versionId(name, version));
  if (!doc) throw new ModelNotFoundError(`${name}:${version}`);
  return doc.data as ModelVersion;
}

export async function listVersions(meta: MetadataStore, name: string): Promise<ModelVersion[]> {
  const docs = await meta.query(VERSIONS, { where: [{ field: "name", op: "==", value: name }] });
  return docs.map((d) => d.data as ModelVersion).sort((a, b) => a.version - b.version);
}

export async function listModels(meta: MetadataStore): Promise<{ name: string; latestVersion: number; updatedAt: string }[]> {
  const docs = await meta.query(MODELS);
  return docs.map((d) => ({ name: String(d.data.name), latestVersion: Number(d.data.latestVersion), updatedAt: String(d.data.updatedAt) }));
}

/** Records metrics of a version on another evaluation dataset (e.g. production re-evaluated on a new test split). */
export async function recordEvaluation(meta: MetadataStore, name: string, version: number, datasetId: string, metrics: Metrics): Promise<void> {
  await meta.transaction(async (tx) => {
    const doc = await tx.get(VERSIONS, versionId(name, version));
    if (!doc) throw new ModelNotFoundError(`${name}:${version}`);
    const current = doc.data as ModelVersion;
    tx.set(VERSIONS, versionId(name, version), { ...current, evaluations: { ...current.evaluations, [datasetId]: metrics } });
  });
}

/** `NAME`, `NAME@ALIAS` or `NAME:VERSION`, as people write them. */
export type ModelRef = { name: string; alias?: string; version?: number };

export function parseModelRef(text: string): ModelRef {
  if (!ModelRefText.safeParse(text).success) throw new SightlineError("invalid", "model_ref_invalid", `${JSON.stringify(text)} is not NAME, NAME@ALIAS or NAME:VERSION`);
  const [, name = "", alias, version] = /^([^@:]+)(?:@(.+)|:(.+))?$/.exec(text) ?? [];
  return { name, ...(alias ? { alias } : {}), ...(version ? { version: Number(version) } : {}) };
}
