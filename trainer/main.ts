#!/usr/bin/env node
// The training Job's container command: everything comes from the environment (the GKE Job template sets it).
import { z } from "zod";
import { loadConfig } from "../core/config/config.ts";
import { openRuntime } from "../core/config/runtime.ts";
import { createLogger } from "../core/telemetry/logger.ts";
import { loadTrainConfig } from "./config.ts";
import { runTraining } from "./run.ts";

const Env = z.object({
  SIGHTLINE_DATASET: z.string().regex(/^[0-9a-f]{64}$/, "a 64-hex dataset id"),
  SIGHTLINE_MODEL: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "a model name"),
  SIGHTLINE_REQUEST_ID: z.string().min(1),
  SIGHTLINE_TRAIN_CONFIG: z.string().optional(),
  SIGHTLINE_EPOCHS: z.coerce.number().int().positive().optional(),
  SIGHTLINE_LIMIT: z.coerce.number().int().nonnegative().optional(),
  SIGHTLINE_IMAGE: z.string().optional(),
  SIGHTLINE_GIT_COMMIT: z.string().optional(),
});

const log = createLogger({ component: "trainer" });
const env = Env.safeParse(process.env);
if (!env.success) {
  log.error("invalid trainer environment", { detail: z.prettifyError(env.error) });
  process.exit(78);
}
const e = env.data;
const rt = await openRuntime(loadConfig(), log);
try {
  const config = await loadTrainConfig(e.SIGHTLINE_TRAIN_CONFIG, { epochs: e.SIGHTLINE_EPOCHS, limit: e.SIGHTLINE_LIMIT });
  let lastLogged = 0;
  const { version } = await runTraining(
    rt,
    {
      requestId: e.SIGHTLINE_REQUEST_ID,
      model: e.SIGHTLINE_MODEL,
      datasetId: e.SIGHTLINE_DATASET,
      config,
      actor: "trainer",
      gitCommit: e.SIGHTLINE_GIT_COMMIT ?? null,
      image: e.SIGHTLINE_IMAGE ?? null,
    },
    {
      onPhase: (phase, detail) => log.info(`phase ${phase}`, { phase, ...detail }),
      onBatch: (p) => {
        // A line every 10 s keeps Cloud Logging readable and still shows a live job.
        if (Date.now() - lastLogged < 10_000) return;
        lastLogged = Date.now();
        log.info("training", { ...p });
      },
      onEpoch: (stats) => log.info("epoch done", { ...stats }),
    },
  );
  log.info("registered", { model: version.name, version: version.version, metrics: version.metrics });
} catch (err) {
  log.error("training failed", { err });
  process.exitCode = 1;
} finally {
  await rt.close();
}
