import type { Config } from "../config/config.ts";
import type { Runtime } from "../config/runtime.ts";
import { catchUp } from "../events/catch-up.ts";
import { EVENT_TYPES } from "../events/schemas.ts";
import { LINEAGE_SUBSCRIPTION } from "../events/subscriptions.ts";
import { loadOpenLineageSettings, type OpenLineageSettings } from "../config/openlineage.ts";
import type { AnyCloudEvent } from "../events/envelope.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import type { Logger } from "../telemetry/logger.ts";
import { lineageNaming, type LineageNaming } from "./naming.ts";
import { datasetReader, endEvent, startEvent, type RunEvent } from "./openlineage.ts";
import { getNode } from "./queries.ts";
import { recordLineage } from "./record.ts";
import { nodeId } from "./store.ts";
import { OpenLineageHttpTransport, type TokenSource } from "./transport.ts";

/** What the emitter did since it was made: what a dashboard or a test reads. */
export type EmitterStats = { sent: number; failed: number };

/**
 * Sends the RunEvent of each training event to the OpenLineage server as the lineage consumer records it:
 * `training.requested` → START, `.completed` → COMPLETE, `.failed` → FAIL (other events make no run event). A sink
 * that is down or refuses never fails the consumer: the failure is logged and counted, and the run can be sent again
 * with `sightline lineage … --format openlineage --export`.
 */
export class LineageEmitter {
  readonly transport: OpenLineageHttpTransport;
  readonly naming: LineageNaming;
  readonly stats: EmitterStats = { sent: 0, failed: 0 };
  private readonly log: Logger;

  constructor(transport: OpenLineageHttpTransport, naming: LineageNaming, log: Logger) {
    this.transport = transport;
    this.naming = naming;
    this.log = log;
  }

  /** The RunEvent a recorded event stands for, read back from the lineage graph; null for other event types. */
  async runEventOf(meta: MetadataStore, event: AnyCloudEvent): Promise<RunEvent | null> {
    const datasetOf = datasetReader(meta);
    if (event.type === "sightline.training.requested") {
      const request = await getNode(meta, nodeId("request", event.data.requestId), "request");
      return request && startEvent(request, await datasetOf(request.datasetId), this.naming);
    }
    if (event.type === "sightline.training.completed" || event.type === "sightline.training.failed") {
      const run = await getNode(meta, nodeId("run", event.data.runId), "run");
      return run && endEvent(run, await datasetOf(run.datasetId), this.naming);
    }
    return null;
  }

  /** Sends the event's RunEvent, if it has one. Never throws; resolves to whether something was delivered. */
  async emit(meta: MetadataStore, event: AnyCloudEvent): Promise<boolean> {
    let runEvent: RunEvent | null = null;
    try {
      runEvent = await this.runEventOf(meta, event);
      if (!runEvent) return false;
      await this.transport.send(runEvent);
      this.stats.sent++;
      return true;
    } catch (err) {
      this.stats.failed++;
      this.log.warn(
        "OpenLineage event not delivered; replay it with `sightline lineage … --format openlineage --export`",
        {
          err,
          eventId: event.id,
          eventType: event.type,
          runEventType: runEvent?.eventType,
          runId: runEvent?.run.runId,
          endpoint: this.transport.endpoint,
          failed: this.stats.failed,
        },
      );
      return false;
    }
  }
}

/**
 * The lineage consumer's step: records the event in the graph and, the first time only (a redelivery records and
 * sends nothing), emits its RunEvent. Returns whether the event was new.
 */
export async function recordAndEmit(
  meta: MetadataStore,
  event: AnyCloudEvent,
  emitter: LineageEmitter | undefined,
): Promise<boolean> {
  const recorded = await recordLineage(meta, event);
  if (recorded && emitter) await emitter.emit(meta, event);
  return recorded;
}

/** Naming from the blob store's location and the settings (what `--export` and the emitter both use). */
export const namingFrom = (config: Config, settings: OpenLineageSettings): LineageNaming =>
  lineageNaming(config.blobs, { jobNamespace: settings.jobNamespace, gitRepoUrl: settings.gitRepoUrl });

/** The emitter SIGHTLINE_OPENLINEAGE_URL asks for, or undefined when it is not set. */
export function lineageEmitterFrom(
  config: Config,
  env: Record<string, string | undefined>,
  log: Logger,
  options: { token?: TokenSource; minTimeoutMs?: number } = {},
): LineageEmitter | undefined {
  const settings = loadOpenLineageSettings(env);
  if (settings.url === null) return undefined;
  const transport = new OpenLineageHttpTransport({ ...settings, url: settings.url }, options);
  return new LineageEmitter(transport, namingFrom(config, settings), log.child({ component: "openlineage" }));
}

/**
 * Records what waits on the `lineage` subscription, so a lineage query answers with every event published so far
 * (the reader is the lineage consumer here: what it records for the first time goes to SIGHTLINE_OPENLINEAGE_URL too).
 */
export async function catchUpLineage(
  rt: Pick<Runtime, "config" | "bus" | "meta" | "log">,
  env: Record<string, string | undefined>,
): Promise<void> {
  const emitter = lineageEmitterFrom(rt.config, env, rt.log);
  await catchUp(
    rt.bus,
    LINEAGE_SUBSCRIPTION,
    EVENT_TYPES,
    (e) => recordAndEmit(rt.meta, e, emitter).then(() => undefined),
    { idleMs: 200 },
  );
}
