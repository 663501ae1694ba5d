import { describe, expect, it } from "vitest";
import { onPredictionsLogged } from "../../core/drift/detect.ts";
import { DriftPolicySchema } from "../../core/drift/drift-policy.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { runCli } from "../support/cli.ts";
import { driftWorld, logged, records } from "../support/drift-world.ts";

describe("sightline drift report", () => {
  it("shows the latest report in full and the history, as text and as JSON", async () => {
    const world = await driftWorld();
    const deps = {
      blobs: world.rt.blobs,
      meta: world.rt.meta,
      bus: world.rt.bus,
      log: createLogger({}, { level: "CRITICAL" }),
      policy: DriftPolicySchema.parse({}),
    };
    await onPredictionsLogged(deps, logged("shoes", 1, records(500, 5), "w1"));
    await onPredictionsLogged(deps, logged("shoes", 1, records(500, 6, 1), "w2"));
    await world.rt.close();
    const env = { SIGHTLINE_HOME: world.home };

    const text = await runCli(["drift", "report", "shoes"], { cwd: world.home, env });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^shoes:1:2: DRIFT — \d of 6 tests drifted/);
    expect(text.stdout).toMatch(/embedding\s+mmd\s+\S+\s+\S+\s+p < 0.05\s+DRIFT/);
    expect(text.stdout).toMatch(/shoes:1:1\s+ok/);

    const json = await runCli(["drift", "report", "shoes:1", "--json"], { cwd: world.home, env });
    const parsed = JSON.parse(json.stdout) as {
      latest: { reportId: string; verdict: { drift: boolean } };
      history: { reportId: string }[];
    };
    expect(parsed.latest).toMatchObject({ reportId: "shoes:1:2", verdict: { drift: true } });
    expect(parsed.history.map((h) => h.reportId)).toEqual(["shoes:1:2", "shoes:1:1"]);

    const none = await runCli(["drift", "report", "boots"], { cwd: world.home, env });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no drift report for boots/);
  });
});
