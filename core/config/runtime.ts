import type { BlobStore } from "../blobs/blob-store.ts";
import type { EventBus } from "../events/event-bus.ts";
import { EMBEDDED_SUBSCRIPTIONS } from "../events/subscriptions.ts";
import type { JobRunner } from "../jobs/job-runner.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { createLogger, type Logger } from "../telemetry/logger.ts";
import {
  ConfigError,
  type BlobsTarget,
  type BusTarget,
  type Config,
  type JobsTarget,
  type MetaTarget,
} from "./config.ts";

/** The adapters a process works with, opened from configuration. Cloud clients load only when configured. */
export interface Runtime {
  config: Config;
  blobs: BlobStore;
  meta: MetadataStore;
  bus: EventBus;
  log: Logger;
  close(): Promise<void>;
}

export async function openBlobStore(target: BlobsTarget): Promise<BlobStore> {
  if (target.kind === "file") {
    const { FsBlobStore } = await import("../blobs/fs-blob-store.ts");
    return new FsBlobStore(target.dir);
  }
  const { GcsBlobStore } = await import("../blobs/gcs-blob-store.ts");
  return new GcsBlobStore({ bucket: target.bucket, prefix: target.prefix });
}

export async function openMetadataStore(target: MetaTarget): Promise<MetadataStore> {
  if (target.kind === "sqlite") {
    const { SqliteStore } = await import("../meta/sqlite-store.ts");
    return new SqliteStore(target.path);
  }
  const { FirestoreStore } = await import("../meta/firestore-store.ts");
  return new FirestoreStore({ projectId: target.project, databaseId: target.database });
}

export async function openEventBus(target: BusTarget, log: Logger): Promise<EventBus> {
  if (target.kind === "local") {
    const { LocalBus } = await import("../events/local-bus.ts");
    const bus = new LocalBus(target.path, { logger: log.child({ component: "local-bus" }) });
    // The embedded consumers' subscriptions exist from the first command on, so no event is published before
    // they can keep it (on Google Cloud, Terraform creates the Pub/Sub subscriptions).
    for (const [name, types] of Object.entries(EMBEDDED_SUBSCRIPTIONS)) await bus.ensureSubscription(name, types);
    return bus;
  }
  const { PubSubBus } = await import("../events/pubsub-bus.ts");
  return new PubSubBus({ projectId: target.project });
}

export interface JobRunnerDeps {
  /** The trainer opens the same stores as this process (passed to it as SIGHTLINE_BLOBS/META/BUS). */
  config: Config;
  /** Where the local runner keeps its job records. */
  meta: MetadataStore;
  log: Logger;
  /** The trainer image, pinned by digest (`REPO@sha256:…`); needed for k8s://. */
  trainerImage?: string;
  /** Extra variables for every trainer, e.g. SIGHTLINE_GIT_COMMIT. */
  env?: Record<string, string>;
}

/** Not part of the Runtime: only the processes that start training (retrain, CLI) need one. */
export async function openJobRunner(target: JobsTarget, deps: JobRunnerDeps): Promise<JobRunner> {
  if (target.kind === "local") {
    const { LocalJobRunner } = await import("../jobs/local-runner.ts");
    return new LocalJobRunner({
      config: deps.config,
      meta: deps.meta,
      env: deps.env,
      log: deps.log.child({ component: "local-job-runner" }),
    });
  }
  if (!deps.trainerImage) {
    throw new ConfigError(
      `SIGHTLINE_JOBS=k8s://${target.namespace}: the trainer image (pinned by digest, REPO@sha256:…) is not set`,
    );
  }
  const { GkeJobRunner } = await import("../jobs/gke-runner.ts");
  return new GkeJobRunner({
    namespace: target.namespace,
    image: deps.trainerImage,
    stores: deps.config,
    env: deps.env,
    log: deps.log.child({ component: "gke-job-runner", namespace: target.namespace }),
  });
}

export async function openRuntime(config: Config, log: Logger = createLogger()): Promise<Runtime> {
  const blobs = await openBlobStore(config.blobs);
  const meta = await openMetadataStore(config.meta);
  const bus = await openEventBus(config.bus, log);
  return {
    config,
    blobs,
    meta,
    bus,
    log,
    close: async () => {
      await Promise.allSettled([bus.close(), meta.close(), blobs.close()]);
    },
  };
}
