import type { BlobStore } from "../blobs/blob-store.ts";
import type { EventBus } from "../events/event-bus.ts";
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
    return new LocalBus(target.path, { logger: log.child({ component: "local-bus" }) });
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
