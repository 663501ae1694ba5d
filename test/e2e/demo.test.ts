import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime } from "../../core/config/runtime.ts";
import { getAlias } from "../../core/registry/aliases.ts";
import { listVersions } from "../../core/registry/model-version.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { runCli } from "../support/cli.ts";

describe("npm run demo (the README's main job)", { timeout: 300_000 }, () => {
  it("versions the sample, trains, promotes and verifies; a second run reuses all of it", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "sightline-demo-"));
    const env = { SIGHTLINE_HOME: join(cwd, ".sightline") };
    const first = await runCli(["demo", "--epochs", "2"], { cwd, env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/Registered dataset [0-9a-f]{64}/);
    expect(first.stdout).toContain("Registered fmnist:1 as fmnist@candidate");
    expect(first.stdout).toContain("Promoted fmnist:1 to production");
    expect(first.stdout).toMatch(/Verified: fmnist:1/);
    const accuracy = Number(/test accuracy ([\d.]+)/.exec(first.stdout)?.[1]);
    expect(accuracy).toBeGreaterThan(0.6);
    const lineage = await runCli(["lineage", "model", "fmnist:1", "--json"], { cwd, env });
    expect(lineage.code, lineage.stderr).toBe(0);
    expect(JSON.parse(lineage.stdout)).toMatchObject({ request: { trigger: "demo" } });

    const second = await runCli(["demo", "--epochs", "2"], { cwd, env });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/Reused dataset/);
    expect(second.stdout).toContain("Reused fmnist:1");
    expect(second.stdout).toContain("fmnist:1 is already in production");

    const rt = await openRuntime(loadConfig(env, cwd), createLogger({}, { level: "CRITICAL" }));
    try {
      expect((await listVersions(rt.meta, "fmnist")).map((v) => v.version)).toEqual([1]);
      expect((await getAlias(rt.meta, "fmnist", "production"))?.version).toBe(1);
    } finally {
      await rt.close();
    }
  });
});
