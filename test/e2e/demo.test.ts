import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime } from "../../core/config/runtime.ts";
import { listReports } from "../../core/drift/detect.ts";
import { getAlias } from "../../core/registry/aliases.ts";
import { listVersions } from "../../core/registry/model-version.ts";
import { DECISIONS, type Decision } from "../../core/registry/promote.ts";
import { RETRAIN_DECISIONS } from "../../core/retrain/trigger.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { chromiumUnavailable, renderPage } from "../support/browser.ts";
import { runCli } from "../support/cli.ts";
import { whyTheRetrainedVersion } from "../support/demo-console.ts";

const CLI = fileURLToPath(new URL("../../cli/sightline.ts", import.meta.url));

describe("npm run demo (the README's main job)", { timeout: 600_000 }, () => {
  it("runs the whole lifecycle, writes a report a browser renders, and reuses everything on a second run", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "sightline-demo-"));
    const env = { SIGHTLINE_HOME: join(cwd, ".sightline") };
    const first = await runCli(["demo"], { cwd, env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/Registered dataset [0-9a-f]{64}/);
    expect(first.stdout).toContain("Promoted fmnist:1 to production");
    expect(first.stdout).toMatch(/Sent 500 clean images: 0 failed/);
    expect(first.stdout).toMatch(/Drift report fmnist:1:\d+: DRIFT/);
    expect(first.stdout).toMatch(/Promoted fmnist:2 and hot-swapped serving: \d+ requests during the change, 0 failed/);
    expect(first.stdout).toMatch(/Verified: fmnist:2/);
    // Training's structured lines stay in its log; the output shows one human line per epoch, for both trainings.
    expect(first.stderr).not.toMatch(/"component":"train"/);
    expect(first.stdout.match(/^ {2}epoch 1\/3: loss \d/gm)).toHaveLength(2);
    const trainingLog = /training log: (\S+)\)/.exec(first.stdout)?.[1];
    expect(trainingLog && readFileSync(trainingLog, "utf8")).toMatch(/"message":"epoch done"/);
    // The last line says how to open the console, and how to have the demo leave it running.
    const last = first.stdout.trimEnd().split("\n").at(-1);
    expect(last).toMatch(/^\s*npx sightline ui\b/);
    expect(last).toContain("`npm run demo -- --ui` leaves it up");

    const rt = await openRuntime(loadConfig(env, cwd), createLogger({}, { level: "CRITICAL" }));
    try {
      const versions = await listVersions(rt.meta, "fmnist");
      expect(versions.map((v) => v.version)).toEqual([1, 2]);
      expect(versions[1]!.requestId).toMatch(/^retrain-/);
      expect(versions[1]!.datasetId).not.toBe(versions[0]!.datasetId);
      expect((await getAlias(rt.meta, "fmnist", "production"))?.version).toBe(2);
      const reports = await listReports(rt.meta, "fmnist", 1);
      expect(reports.filter((r) => r.drift)).not.toHaveLength(0);
      expect(reports.find((r) => r.seq === 1)?.drift).toBe(false);
      const started = (await rt.meta.query(RETRAIN_DECISIONS)).filter((d) => d.data.outcome === "started");
      expect(started).toHaveLength(1);
      expect(await rt.meta.query("jobs")).toHaveLength(1);
      const gate = (await rt.meta.query(DECISIONS)).map((d) => d.data as Decision).find((d) => d.version === 2);
      expect(gate?.outcome).toBe("promoted");
      expect(gate?.rules.some((r) => r.rule.endsWith("@production-data"))).toBe(true);
      await whyTheRetrainedVersion(rt, env);
    } finally {
      await rt.close();
    }

    const report = join(cwd, ".sightline", "report.html");
    expect(existsSync(report)).toBe(true);
    const why = chromiumUnavailable();
    if (why && process.env.CI === "true") throw new Error(`cannot render the report: ${why}`);
    if (!why) {
      const page = await renderPage(report);
      expect(page.errors).toEqual([]);
      expect(page.title).toContain("fmnist");
      expect(page.svgs).toBeGreaterThanOrEqual(3);
      expect(page.text).toMatch(/Models before and after/);
      expect(page.text).toMatch(/fmnist:1:\d+ — drift/);
      expect(page.text).toMatch(/Audit trail/);
    }

    // The second run leaves the console up over the demo's state (`npm run demo -- --ui`) until it is interrupted.
    const second = await runDemoWithConsole(cwd, env, async (url) => {
      const res = await fetch(new URL("api/models", url));
      expect(res.status).toBe(200);
      expect(JSON.stringify(await res.json())).toMatch(/"fmnist"/);
      const why = await fetch(new URL("api/models/fmnist/provenance", url));
      expect(why.status).toBe(200);
      const body = (await why.json()) as { versions: { version: number; drift: { reportId: string } | null }[] };
      expect(body.versions.find((v) => v.version === 2)?.drift?.reportId).toMatch(/^fmnist:1:\d+$/);
    });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/Sightline console at http:\/\/127\.0\.0\.1:\d+\//);
    expect(second.stdout).toMatch(/Reused dataset/);
    expect(second.stdout).toContain("Reused fmnist:1");
    expect(second.stdout).toContain("fmnist:2 is already in production");
    expect(second.stdout).toMatch(/Reused: fmnist:2 was retrained on drifted data/);
    expect(second.stdout).toMatch(/Verified: fmnist:2/);
  });
});

/** `sightline demo --ui 0`: waits for the console's URL, runs `check` against it, then interrupts the demo. */
function runDemoWithConsole(
  cwd: string,
  env: Record<string, string>,
  check: (url: string) => Promise<void>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, "demo", "--ui", "0"], {
      cwd,
      env: { ...process.env, CI: "true", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let checked = false;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      const url = /Sightline console at (http:\/\/\S+\/)/.exec(stdout)?.[1];
      if (url && !checked) {
        checked = true;
        check(url).then(
          () => child.kill("SIGINT"),
          (err: unknown) => {
            child.kill("SIGKILL");
            reject(err);
          },
        );
      }
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}
