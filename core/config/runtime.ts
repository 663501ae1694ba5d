import type { BlobStore } from "../blobs/blob-store.ts";
import type { EventBus } from "../events/event-bus.ts";
import { EMBEDDED_SUBSCRIPTIONS } from "../events/subscriptions.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { createLogger, type Logger } from "../telemetry/logger.ts";
import type { BlobsTarget, BusTarget, Config, MetaTarget } from "./config.ts";

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
