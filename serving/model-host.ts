import type { Runtime } from "../core/config/runtime.ts";
import type { Subscription } from "../core/events/event-bus.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { getAlias } from "../core/registry/aliases.ts";
import { refText, type ServedRef } from "./config.ts";
import { LoadedModel, type LoadOptions } from "./loaded-model.ts";
import type { ServingMetrics } from "./metrics.ts";

export interface HostOptions extends Omit<LoadOptions, "metrics"> {
  ref: ServedRef;
  reloadPollMs: number;
  /** When set, also reload on `model.promoted` / `.rolled_back` events received on this subscription. */
  subscription?: string;
}

export type CheckResult = { changed: boolean; version: number | undefined; error?: string };

const RETRY_REJECTED_MS = 60_000;

/**
 * Keeps the version that `ref` names loaded. A moved alias is noticed by polling the metadata store (and at once
 * from promotion events when subscribed); the new version loads beside the old one, requests switch to it
 * atomically, and the old one is retired when its last request is done. A version that fails to load is
 * rejected, counted, and retried only after a minute (a broken file stays broken; a flaky store recovers).
 */
export class ModelHost {
  private model: LoadedModel | undefined;
  private rejected: { version: number; error: string; at: number } | undefined;
  private checking: Promise<CheckResult> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private subscription: Subscription | undefined;
  private readonly rt: Runtime;
  private readonly options: HostOptions;
  private readonly metrics: ServingMetrics;
  private readonly log: Logger;

  constructor(rt: Runtime, options: HostOptions, metrics: ServingMetrics, log: Logger) {
    this.rt = rt;
    this.options = options;
    this.metrics = metrics;
    this.log = log;
  }

  /** The model answering now, if any. */
  get current(): LoadedModel | undefined {
    return this.model;
  }

  get ref(): ServedRef {
    return this.options.ref;
  }

  /** Loads what `ref` names now (not throwing when nothing is there yet) and starts watching it. */
  async start(): Promise<CheckResult> {
    const first = await this.check("start");
    this.timer = setInterval(() => void this.check("poll"), this.options.reloadPollMs);
    this.timer.unref();
    if (this.options.subscription !== undefined) {
      const name = this.options.ref.name;
      this.subscription = await this.rt.bus.subscribe(
        this.options.subscription,
        ["sightline.model.promoted", "sightline.model.rolled_back"],
        async (event) => {
          if (
            (event.type === "sightline.model.promoted" || event.type === "sightline.model.rolled_back") &&
            event.data.model === name
          )
            await this.check(event.type);
        },
      );
    }
    return first;
  }

  /** Resolves `ref` and loads its version if it is not the one being served. Concurrent calls share one check. */
  check(reason: string): Promise<CheckResult> {
    this.checking ??= this.doCheck(reason).finally(() => (this.checking = undefined));
    return this.checking;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.subscription?.close();
    await this.checking?.catch(() => undefined);
    const model = this.model;
    this.model = undefined;
    this.metrics.servingVersion(this.options.ref.name, undefined);
    await model?.retire();
  }

  private async doCheck(reason: string): Promise<CheckResult> {
    const ref = this.options.ref;
    let version: number | undefined;
    try {
      version = "version" in ref ? ref.version : (await getAlias(this.rt.meta, ref.name, ref.alias))?.version;
    } catch (err) {
      // A metadata store that is down must not take the served model with it: keep serving, try next poll.
      this.log.warn("cannot resolve the served model", { model: refText(ref), reason, err });
      return { changed: false, version: this.model?.version, error: (err as Error).message };
    }
    if (version === undefined) {
      if (reason === "start") this.log.warn("no model to serve yet; waiting for it", { model: refText(ref) });
      return { changed: false, version: this.model?.version };
    }
    if (version === this.model?.version) return { changed: false, version };
    if (version === this.rejected?.version && Date.now() - this.rejected.at < RETRY_REJECTED_MS)
      return { changed: false, version: this.model?.version, error: this.rejected.error };

    const started = performance.now();
    let next: LoadedModel;
    try {
      next = await LoadedModel.load(this.rt, ref.name, version, { ...this.options, metrics: this.metrics });
    } catch (err) {
      const error = (err as Error).message;
      this.rejected = { version, error, at: Date.now() };
      this.metrics.reloads.inc({ result: "failed" });
      this.log.error("model failed to load; still serving the previous one", {
        model: `${ref.name}:${version}`,
        serving: this.model?.version ?? null,
        reason,
        err,
      });
      return { changed: false, version: this.model?.version, error };
    }
    const previous = this.model;
    this.model = next;
    this.rejected = undefined;
    this.metrics.reloads.inc({ result: "loaded" });
    this.metrics.servingVersion(ref.name, version);
    this.log.info(previous ? "model swapped" : "model loaded", {
      model: `${ref.name}:${version}`,
      previous: previous?.version ?? null,
      reason,
      runsOn: next.runsOn,
      loadMs: Math.round(performance.now() - started),
    });
    if (previous)
      void previous
        .retire()
        .catch((err: unknown) =>
          this.log.error("retiring the previous model failed", { model: `${ref.name}:${previous.version}`, err }),
        );
    return { changed: true, version };
  }
}
