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
import { chromiumUnavailable, launchChromium } from "../support/browser.ts";
import { runCli } from "../support/cli.ts";
import { whyTheRetrainedVersion } from "../support/demo-console.ts";
import { SAMPLE } from "../support/datasets.ts";

const CLI = fileURLToPath(new URL("../../cli/sightline.ts", import.meta.url));

describe("npm run demo (the README's main job)", { timeout: 600_000 }, () => {
  it("runs the whole lifecycle, writes a report a browser renders, and reuses everything on a second run", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "sightline-demo-"));
    const env = { SIGHTLINE_HOME: join(cwd, ".sightline") };
    const first = await runCli(["demo"], { cwd, env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/Registered dataset [0-9a-f]{64}/);
    // Without --ui nothing stays up at the end.
    expect(first.stdout).not.toContain("Serving stays up");
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
    expect(first.stdout).toContain(`Report: ${report} (`);
    expect(first.stdout).toContain(`open it in a browser: file://${report}`);
    expect(existsSync(report)).toBe(true);
    const why = chromiumUnavailable();
    if (why && process.env.CI === "true") throw new Error(`cannot render the report: ${why}`);
    if (!why) await checkReport(report);

    // The second run leaves the console up over the demo's state (`npm run demo -- --ui`) until it is interrupted.
    const second = await runDemoWithConsole(cwd, env, async (url) => {
      const res = await fetch(new URL("api/models", url));
      expect(res.status).toBe(200);
      expect(JSON.stringify(await res.json())).toMatch(/"fmnist"/);
      const why = await fetch(new URL("api/models/fmnist/provenance", url));
      expect(why.status).toBe(200);
      const body = (await why.json()) as { versions: { version: number; drift: { reportId: string } | null }[] };
      expect(body.versions.find((v) => v.version === 2)?.drift?.reportId).toMatch(/^fmnist:1:\d+$/);
      // The Predict page's route reaches the demo's inference API, kept up beside the console.
      const form = new FormData();
      const trouser = join(SAMPLE, "test", "trouser", "0002.png");
      form.append("file", new Blob([readFileSync(trouser)], { type: "image/png" }), "trouser.png");
      const predicted = await fetch(new URL("api/predict", url), {
        method: "POST",
        headers: { "x-sightline-csrf": "page" },
        body: form,
      });
      expect(predicted.status).toBe(200);
      expect(await predicted.json()).toMatchObject({
        model: { name: "fmnist", version: 2 },
        label: expect.any(String),
      });
    });
    expect(second.stdout).toMatch(/Serving stays up at http:\/\/127\.0\.0\.1:\d+ for the console's Predict page/);
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

/**
 * The report is the console's pages exported over the demo's state: it opens on the model (both versions, the gate's
 * decision, the audit trail), and its note links the drift of fmnist:1 and the traced prediction's lineage, verified.
 * From file://, with no error and no request but the file.
 */
async function checkReport(report: string): Promise<void> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => void (m.type() === "error" && problems.push(`console: ${m.text()}`)));
    page.on("pageerror", (e) => void problems.push(`page: ${e.message}`));
    page.on("requestfailed", (r) => void problems.push(`request: ${r.url()} ${r.failure()?.errorText ?? ""}`));
    page.on("request", (r) => void requests.push(r.url()));
    await page.goto(`file://${report}`);
    await page.getByRole("heading", { level: 1, name: "Model fmnist" }).waitFor();
    expect(await page.title()).toContain("fmnist");
    for (const v of ["fmnist:1", "fmnist:2"]) expect(await page.getByRole("rowheader", { name: v }).count()).toBe(1);
    expect(await page.getByRole("row", { name: /^fmnist:2 .*production/ }).count()).toBe(1);
    await page.getByRole("heading", { name: "Gate decisions" }).waitFor();
    expect(await page.getByRole("heading", { level: 3, name: "fmnist:2 promoted" }).count()).toBeGreaterThan(0);
    await page.getByRole("heading", { name: "Audit trail" }).waitFor();
    const note = page.getByRole("complementary");
    expect(await note.innerText()).toMatch(/^Snapshot of .+ Read-only/);

    await note.getByRole("link", { name: "Drift of fmnist:1" }).click();
    await page.getByRole("heading", { name: "Severity over time" }).waitFor();
    expect(await page.locator(".chart canvas").count()).toBeGreaterThan(0);
    expect(await page.getByRole("table", { name: /[1-9]\d* of \d+ drifted/ }).count()).toBe(1);
    expect(await page.getByRole("cell", { name: /^drift/ }).count()).toBeGreaterThan(0);

    await note.getByRole("link", { name: /^Lineage of / }).click();
    await page.getByRole("heading", { name: /^Lineage of prediction / }).waitFor();
    expect(await page.locator("svg .node").count()).toBeGreaterThanOrEqual(4);
    expect(await page.getByText("model fmnist:2").count()).toBeGreaterThan(0);
    await page.getByRole("button", { name: "Verify fmnist:2 from the stored bytes" }).click();
    expect(
      await page
        .getByRole("status")
        .filter({ hasText: /checks passed/ })
        .innerText(),
    ).toMatch(/^Verified: /);

    expect(problems).toEqual([]);
    expect(requests.filter((u) => !u.startsWith("file://") && !u.startsWith("data:"))).toEqual([]);
  } finally {
    await browser.close();
  }
}
