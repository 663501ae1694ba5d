import { execFileSync } from "node:child_process";
import type { BlobStore } from "../core/blobs/blob-store.ts";
import { buildProfile, serializeProfile, type ReferenceProfile } from "../core/drift/profile.ts";
import { makeEvent } from "../core/events/envelope.ts";
import type { EventBus } from "../core/events/event-bus.ts";
import type { MetadataStore } from "../core/meta/metadata-store.ts";
import { CANDIDATE, setAliasIn } from "../core/registry/aliases.ts";
import type { ModelCard } from "../core/registry/model-card.ts";
import { registerVersion, type ModelVersion } from "../core/registry/model-version.ts";
import { topClass } from "../core/registry/scores.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import type { SplitData } from "../core/datasets/training-data.ts";
import { SIGHTLINE_GIT_REPO_URL } from "../core/config/settings/lineage.ts";

export { newRunId } from "../core/jobs/run-record.ts";

export type Runtime = { blobs: BlobStore; meta: MetadataStore; bus: EventBus; log: Logger };

/** What identifies the request a run answers. */
export interface RunRequest {
  requestId: string;
  model: string;
  datasetId: string;
  /** Who asked, for the audit record of the `candidate` alias. */
  actor: string;
}

/**
 * The drift reference profile of a model on its test split: the images' features, the predicted classes and
 * confidences, and the embeddings when the model has them.
 */
export function testProfile(
  test: SplitData,
  scores: { probabilities: Float32Array; embeddings?: Float32Array; embeddingDim?: number },
  classes: string[],
  seed: number,
): ReferenceProfile {
  // Computed with the model input, from the same decode (loadTrainingData's testFeatures).
  const { features } = test;
  if (!features)
    throw new Error("the test split was loaded without its drift features (loadTrainingData: testFeatures)");
  const k = classes.length;
  const predictedIndex: number[] = [];
  const confidence: number[] = [];
  for (let i = 0; i < test.n; i++) {
    const best = topClass(scores.probabilities, k, i);
    predictedIndex.push(best);
    confidence.push(scores.probabilities[i * k + best]!);
  }
  return buildProfile({
    features,
    predictedIndex,
    confidence,
    embeddings: scores.embeddings,
    embeddingDim: scores.embeddingDim,
    classes,
    seed,
  });
}

/**
 * Writes model, profile and card as blobs, then registers the version and points `candidate` at it in ONE
 * transaction, and publishes `sightline.training.completed`. Everything before the transaction only writes
 * immutable content-addressed blobs, so a crash leaves no registered version and no card pointing anywhere.
 */
export async function registerRun(
  rt: Runtime,
  request: RunRequest,
  run: {
    runId: string;
    onnx: Uint8Array;
    profile: ReferenceProfile;
    card: (digests: { modelDigest: string; profileDigest: string }) => ModelCard;
  },
): Promise<{ version: ModelVersion; card: ModelCard }> {
  const modelRef = await rt.blobs.put(run.onnx);
  const profileRef = await rt.blobs.put(Buffer.from(serializeProfile(run.profile)));
  const card = run.card({ modelDigest: modelRef.digest, profileDigest: profileRef.digest });
  const cardRef = await rt.blobs.put(Buffer.from(JSON.stringify(card, null, 2)));
  const { runId } = run;
  const { metrics, configHash, gitCommit, image } = card;
  const repoUrl = SIGHTLINE_GIT_REPO_URL.lookup().raw;
  const version = await registerVersion(
    rt.meta,
    {
      name: request.model,
      datasetId: request.datasetId,
      requestId: request.requestId,
      runId,
      modelDigest: modelRef.digest,
      cardDigest: cardRef.digest,
      profileDigest: profileRef.digest,
      configHash,
      gitCommit,
      image,
      metrics,
    },
    (tx, v) =>
      setAliasIn(tx, {
        name: request.model,
        alias: CANDIDATE,
        to: v.version,
        actor: request.actor,
        reason: `trained by ${runId}`,
      }),
  );
  await rt.bus.publish(
    makeEvent(
      "sightline.training.completed",
      {
        requestId: request.requestId,
        runId,
        model: request.model,
        version: version.version,
        datasetId: request.datasetId,
        modelDigest: modelRef.digest,
        cardDigest: cardRef.digest,
        profileDigest: profileRef.digest,
        configHash,
        ...(gitCommit ? { gitCommit } : {}),
        // As set, unchecked: a bad URL fails the lineage consumer's settings, not the training run.
        ...(gitCommit && repoUrl ? { gitRepo: repoUrl } : {}),
        ...(image ? { image } : {}),
        metrics,
        ...(card.parentVersion !== undefined ? { parentVersion: card.parentVersion } : {}),
      },
      { id: `training.completed:${runId}`, subject: `${request.model}:${version.version}` },
    ),
  );
  return { version, card };
}

/** Publishes `sightline.training.failed` with the reason (best effort: a failed publish is logged). */
export async function publishFailed(
  rt: Runtime,
  request: RunRequest,
  runId: string,
  err: unknown,
  log: Logger,
): Promise<void> {
  const reason = err instanceof Error ? err.message : String(err);
  await rt.bus
    .publish(
      makeEvent(
        "sightline.training.failed",
        {
          requestId: request.requestId,
          runId,
          model: request.model,
          datasetId: request.datasetId,
          reason: reason.slice(0, 2000),
        },
        { id: `training.failed:${runId}`, subject: request.model },
      ),
    )
    .catch((publishErr: unknown) => log.error("could not publish training.failed", { err: publishErr }));
}

/** The commit of a git checkout and whether it has uncommitted changes (best effort: undefined outside git). */
export function gitState(cwd: string = process.cwd()): { commit: string; dirty: boolean } | undefined {
  try {
    const git = (...args: string[]) =>
      execFileSync("git", ["-C", cwd, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const commit = git("rev-parse", "HEAD");
    return commit ? { commit, dirty: git("status", "--porcelain", "--untracked-files=no") !== "" } : undefined;
  } catch {
    return undefined;
  }
}
