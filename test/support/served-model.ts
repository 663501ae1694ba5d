import { mkdtempSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { versionDataset } from "../../core/datasets/version.ts";
import { getAlias, moveAlias, PRODUCTION } from "../../core/registry/aliases.ts";
import type { ModelVersion } from "../../core/registry/model-version.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadTrainConfig } from "../../trainer/config.ts";
import { runTraining } from "../../trainer/run.ts";
import { SAMPLE } from "./datasets.ts";

export const MODEL = "fmnist";

/** A home with the bundled sample versioned and two real models trained on it; v1 is in production. */
export interface ServedWorld {
  home: string;
  config: Config;
  rt: Runtime;
  datasetId: string;
  v1: ModelVersion;
  /** Trained only when asked for (`trainedWorld({ second: true })`, the default). */
  v2: ModelVersion;
}

export async function trainedWorld(options: { second?: boolean } = {}): Promise<ServedWorld> {
  const home = mkdtempSync(join(tmpdir(), "sightline-serve-"));
  const config = loadConfig({ SIGHTLINE_HOME: home }, home);
  const rt = await openRuntime(config, createLogger({}, { level: "CRITICAL" }));
  const datasetId = (await versionDataset(rt, SAMPLE)).record.id;
  const train = async (requestId: string, epochs: number, limit: number, seed: number): Promise<ModelVersion> =>
    (
      await runTraining(rt, {
        requestId,
        model: MODEL,
        datasetId,
        config: await loadTrainConfig(undefined, { epochs, limit, seed }),
        actor: "tester",
      })
    ).version;
  const v1 = await train("serve-v1", 2, 1600, 1);
  const v2 = options.second === false ? v1 : await train("serve-v2", 1, 800, 2);
  await setProduction(rt, v1.version);
  return { home, config, rt, datasetId, v1, v2 };
}

/** Points production at `version`, whatever it points at now. */
export async function setProduction(rt: Runtime, version: number): Promise<void> {
  const current = (await getAlias(rt.meta, MODEL, PRODUCTION))?.version ?? null;
  const moved = await moveAlias(rt.meta, {
    name: MODEL,
    alias: PRODUCTION,
    to: version,
    expected: current,
    actor: "tester",
    reason: "test",
    action: "alias.set",
  });
  if (!moved.ok) throw new Error(`production moved under the test: now ${moved.current}`);
}

/** The bundled held-out images with their labels. */
export async function heldOutImages(): Promise<{ label: string; file: string; bytes: Buffer }[]> {
  const out: { label: string; file: string; bytes: Buffer }[] = [];
  for (const label of (await readdir(join(SAMPLE, "test"))).sort()) {
    for (const file of (await readdir(join(SAMPLE, "test", label))).sort())
      out.push({ label, file, bytes: await readFile(join(SAMPLE, "test", label, file)) });
  }
  return out;
}
