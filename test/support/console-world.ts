import { loadConfig } from "../../core/config/config.ts";
import { onPredictionsLogged } from "../../core/drift/detect.ts";
import { DriftPolicySchema } from "../../core/drift/drift-policy.ts";
import { catchUpLineage } from "../../core/lineage/emit.ts";
import { parsePolicy } from "../../core/registry/policy.ts";
import { promote } from "../../core/registry/promote.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { recordJob, recordRuns, secondDatasetVersion } from "./console-runs.ts";
import { logged, records, registerDriftModel } from "./drift-world.ts";
import { lineageWorld, MODEL } from "./lineage-world.ts";

export { MODEL };
export const DRIFT_MODEL = "shoes";

/**
 * What the console shows, built through core in a temp SIGHTLINE_HOME (the embedded default's layout, so
 * `sightline ui` opens it as is): lineageWorld's history (dataset, runs, promotions, a rollback, predictions),
 * its lineage recorded, a gate decision waiting for approval, three real drift reports of a second model, the
 * tracked runs behind the versions, a second version of the dataset and a finished training job with its log.
 */
export async function consoleWorld() {
  const world = await lineageWorld();
  const log = createLogger({}, { level: "CRITICAL" });
  const config = loadConfig({ SIGHTLINE_HOME: world.home }, world.home);
  await catchUpLineage({ config, bus: world.bus, meta: world.meta, log }, {});

  const manual = parsePolicy("absolute: { accuracy: 0.8 }\napproval: manual\n");
  const decision = await promote(
    { meta: world.meta, bus: world.bus },
    {
      name: MODEL,
      version: world.v2.version,
      actor: "ci",
      reason: "retrained on drift",
      policy: manual.policy,
      policyDigest: manual.digest,
    },
  );

  const drifting = await registerDriftModel(world);
  const policy = DriftPolicySchema.parse({ window: { size: 300, minSize: 100, maxSeconds: 3600 } });
  const deps = {
    blobs: world.blobs,
    meta: world.meta,
    bus: world.bus,
    log,
    policy,
    now: () => new Date("2026-11-24T03:00:00Z"),
  };
  const hour = 3600_000;
  const start = Date.parse("2026-11-24T00:00:00Z");
  // Two quiet windows, then one whose inputs shifted.
  for (const [i, shift] of [0, 0, 1.5].entries())
    await onPredictionsLogged(
      deps,
      logged(DRIFT_MODEL, drifting.version, records(300, 10 + i, shift, start + i * hour), `w${i}`),
    );
  await recordRuns(world, world);
  const dataset2 = await secondDatasetVersion(world);
  const job = await recordJob(world.meta, world.home, world.dataset.id);
  return { ...world, config, decision, drifting, dataset2, job };
}

export type ConsoleWorld = Awaited<ReturnType<typeof consoleWorld>>;
