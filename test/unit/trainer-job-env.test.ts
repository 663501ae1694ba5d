// A training job's environment is defined once (core/config/settings/trainer-job.ts): the runners write it from a
// TrainingJobSpec and trainer/main.ts reads it back through the same variables.
import { describe, expect, it } from "vitest";
import { JOB_SPEC_VARIABLES, readTrainerJobEnv, TRAINER_JOB_SETTINGS } from "../../core/config/settings/trainer-job.ts";
import type { TrainingJobSpec } from "../../core/jobs/job-runner.ts";
import { SPEC_ENV_NAMES, specEnv } from "../../core/jobs/trainer-env.ts";

const DATASET = "a".repeat(64);
const quiet = { onDeprecated: () => {} };

describe("the training job's environment", () => {
  it("round-trips a spec: what the runners write is what the trainer reads", () => {
    const spec: TrainingJobSpec = {
      requestId: "req-1",
      model: "fashion",
      datasetId: DATASET,
      configPath: "trainer/configs/x.yaml",
      epochs: 5,
      limit: 40,
      fineTune: true,
    };
    const env = specEnv(spec);
    expect(Object.keys(env).every((k) => JOB_SPEC_VARIABLES.some((v) => v.variable.name === k))).toBe(true);
    const read = readTrainerJobEnv(env, quiet);
    expect(read).toMatchObject({
      ok: true,
      value: {
        requestId: "req-1",
        model: "fashion",
        datasetId: DATASET,
        trainConfig: "trainer/configs/x.yaml",
        epochs: 5,
        limit: 40,
        fineTune: true,
        runRoot: "/sightline",
      },
    });
  });

  it("leaves unset fields out, and names every problem at once", () => {
    expect(Object.keys(specEnv({ requestId: "r", model: "m", datasetId: DATASET })).sort()).toEqual([
      "SIGHTLINE_DATASET",
      "SIGHTLINE_REQUEST_ID",
      "SIGHTLINE_TRAIN_MODEL_NAME",
    ]);
    const bad = readTrainerJobEnv({ SIGHTLINE_DATASET: "nope", SIGHTLINE_EPOCHS: "0" }, quiet);
    expect(bad.ok).toBe(false);
    const issues = bad.ok ? [] : bad.issues;
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^SIGHTLINE_DATASET: a 64-hex dataset id/),
        expect.stringMatching(/^SIGHTLINE_TRAIN_MODEL_NAME: required/),
        expect.stringMatching(/^SIGHTLINE_REQUEST_ID: required/),
        expect.stringMatching(/^SIGHTLINE_EPOCHS: /),
      ]),
    );
  });

  it("still reads a Job written with the old names, and the local runner drops inherited old names too", () => {
    const uses: string[] = [];
    const read = readTrainerJobEnv(
      {
        SIGHTLINE_DATASET: DATASET,
        SIGHTLINE_MODEL: "fashion",
        SIGHTLINE_REQUEST_ID: "r",
        SIGHTLINE_IMAGE: "img@sha256:x",
      },
      { onDeprecated: (u) => void uses.push(u.alias) },
    );
    expect(read).toMatchObject({ ok: true, value: { model: "fashion", image: "img@sha256:x" } });
    expect(uses.sort()).toEqual(["SIGHTLINE_IMAGE", "SIGHTLINE_MODEL"]);
    expect(SPEC_ENV_NAMES).toEqual(
      expect.arrayContaining(["SIGHTLINE_TRAIN_MODEL_NAME", "SIGHTLINE_MODEL", "SIGHTLINE_EPOCHS"]),
    );
    expect(TRAINER_JOB_SETTINGS.map((v) => v.name)).toContain("SIGHTLINE_TRAIN_JOB_IMAGE");
  });
});
