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

    expect(text.stdout).toMatch(/embedding\s+mmd\s+.*DRIFT\s+\d+\/\d+\s+[\d.]+x\n/);

    // One window: its tests and a histogram per scalar test, the reference and the window over the same bins.
    const one = await runCli(["drift", "report", "shoes:1", "--window", "2"], { cwd: world.home, env });
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/^shoes:1:2: DRIFT/);
    expect(one.stdout).toMatch(/ {2}brightness \(ks\): [\d.]+% of the mass moved; 20 bins from /);
    expect(one.stdout).toMatch(/ {4}reference \|[ ▁-█]{20}\|\n {4}window {4}\|[ ▁-█]{20}\|/u);
    expect(one.stdout).toMatch(/predicted_class \(chi2\): .*\n {4}bag [\d.]+% → [\d.]+%, coat/);
    const oneJson = JSON.parse(
      (await runCli(["drift", "report", "shoes:1", "--window", "1", "--json"], { cwd: world.home, env })).stdout,
    ) as { reportId: string; histograms: { ok: boolean } };
    expect(oneJson).toMatchObject({ reportId: "shoes:1:1", histograms: { ok: true } });
    const missing = await runCli(["drift", "report", "shoes:1", "--window", "7"], { cwd: world.home, env });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/no drift report shoes:1:7/);

    const none = await runCli(["drift", "report", "boots"], { cwd: world.home, env });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no drift report for boots/);
  });
});
