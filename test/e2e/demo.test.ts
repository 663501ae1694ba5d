import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Locator } from "playwright-core";
import { describe, expect, it } from "vitest";
import { startConsole } from "../../console/server/start.ts";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { SIGHTLINE_SCREENSHOTS_DIR } from "../../core/config/settings/tools.ts";
import { listReports, Reports } from "../../core/drift/detect.ts";
import { getRun } from "../../core/jobs/run-record.ts";
import { getAlias } from "../../core/registry/aliases.ts";
import { listVersions } from "../../core/registry/model-version.ts";
import { DECISIONS, type Decision } from "../../core/registry/promote.ts";
import { listDecisions } from "../../core/registry/queries.ts";
import { RETRAIN_DECISIONS, RetrainDecisions } from "../../core/retrain/trigger.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { chromiumUnavailable, launchChromium, renderPage } from "../support/browser.ts";
import { runCli } from "../support/cli.ts";
import { screenshotViews, type ConsoleView } from "../support/console-screens.ts";

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

/**
 * A newcomer's path, on the demo's state, through the console `sightline ui` serves (startConsole): from the model
 * page, real clicks on links reach why fmnist:2 replaced fmnist:1 (the drift report, the retrain request, the run,
 * the gate decision), each checked against the records core stores; then the drift report's and the run's links
 * lead to their pages. With SIGHTLINE_SCREENSHOTS_DIR set, every page is also captured there.
 */
async function whyTheRetrainedVersion(rt: Runtime, env: Record<string, string>): Promise<void> {
  const why = chromiumUnavailable();
  if (why && process.env.CI === "true") throw new Error(`cannot drive the console: ${why}`);
  if (why) return;
  const started = Date.now();
  const [v1, v2] = await listVersions(rt.meta, "fmnist");
  const retrain = (await RetrainDecisions.query(rt.meta))
    .map((d) => d.data)
    .find((d) => d.outcome === "started" && d.requestId === v2!.requestId);
  expect(retrain, "the retrain function's decision that requested fmnist:2").toBeDefined();
  const report = await Reports.get(rt.meta, retrain!.reportId);
  const run = await getRun(rt.meta, v2!.runId);
  const gate = (await listDecisions(rt.meta, "fmnist")).find((d) => d.version === 2 && d.outcome !== "deciding");
  expect(report?.drift).toBe(true);
  expect(run?.requestId).toBe(v2!.requestId);
  expect(gate?.outcome).toBe("promoted");
  expect(gate?.productionVersion).toBe(v1!.version);

  const running = await startConsole(rt, { host: "127.0.0.1", port: 0, env });
  const consoleUp = Date.now();
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    const problems: string[] = [];
    page.on("console", (m) => void (m.type() === "error" && problems.push(`console: ${m.text()}`)));
    page.on("pageerror", (e) => void problems.push(`page: ${e.message}`));
    page.on("requestfailed", (r) => void problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ""}`));
    page.on("response", (r) => void (r.status() >= 400 && problems.push(`response ${r.status()}: ${r.url()}`)));
    let clicks = 0;
    const click = async (link: Locator): Promise<void> => {
      await link.click();
      clicks += 1;
    };

    await page.goto(`${running.url}#/models/fmnist`);
    await page.getByRole("heading", { level: 1, name: "Model fmnist" }).waitFor();
    // The versions table says it in one line already, under fmnist:2.
    const line = page.locator('[data-provenance="fmnist:2"]');
    expect(await line.innerText()).toContain(`drift report ${retrain!.reportId}`);

    await click(line.getByRole("link", { name: "Why fmnist:2?" }));
    await page.getByRole("heading", { level: 1, name: "Why fmnist:2?" }).waitFor();
    expect(clicks).toBeLessThanOrEqual(3);
    const step = (name: string): Locator => page.locator(`[data-step="${name}"]`);
    const drift = await step("drift").innerText();
    expect(drift).toContain(report!.reportId);
    expect(drift).toContain(`fmnist:${report!.version}: drift`);
    for (const test of report!.driftedTests) expect(drift).toContain(test);
    const request = await step("request").innerText();
    expect(request).toContain(retrain!.requestId!);
    expect(request).toContain(retrain!.job!);
    const runText = await step("run").innerText();
    expect(runText).toContain(run!.runId);
    expect(runText).toContain(run!.status);
    const gateText = await step("gate").innerText();
    expect(gateText).toContain(gate!.id);
    expect(gateText).toMatch(/Promoted/i);
    const rules = step("gate").locator("tbody tr");
    expect(await rules.count()).toBe(gate!.rules.length);
    expect(await rules.locator("th").allInnerTexts()).toEqual(gate!.rules.map((r) => r.rule));
    expect(await step("aliases").innerText()).toContain(`production: ${v1!.version} → 2`);

    // Each link of the chain leads to the record's own page.
    await click(step("drift").getByRole("link", { name: report!.reportId }));
    await page.getByRole("heading", { level: 1, name: `Drift of fmnist:${report!.version}` }).waitFor();
    await page.locator("tr.highlight").waitFor();
    expect(await page.locator("tr.highlight th").innerText()).toBe(String(report!.seq));
    expect(await page.locator("section[aria-labelledby=windows] [role=status]").innerText()).toContain(
      report!.reportId,
    );
    await page.goBack();
    await click(step("run").getByRole("link", { name: run!.runId }));
    await page.getByRole("heading", { level: 1, name: `Run ${run!.runId}` }).waitFor();
    expect(clicks).toBe(3);
    expect(problems).toEqual([]);
    const walked = Date.now();

    const dir = SIGHTLINE_SCREENSHOTS_DIR.read(process.env);
    if (dir) {
      const shots = await screenshotViews(browser, running.url, await consoleViews(rt, retrain!.reportId), dir);
      expect(shots.problems).toEqual([]);
    }
    process.stdout.write(
      `console on the demo's state: up in ${consoleUp - started} ms, three clicks walked in ${walked - consoleUp} ms${dir ? `, screenshots in ${Date.now() - walked} ms (${dir})` : ""}\n`,
    );
  } finally {
    await browser?.close();
    await running.stop();
  }
}

/** Every page of the console once, on the demo's records. */
async function consoleViews(rt: Runtime, reportId: string): Promise<ConsoleView[]> {
  const versions = await listVersions(rt.meta, "fmnist");
  const [a, b] = versions;
  const jobs = await rt.meta.query("jobs");
  const enc = encodeURIComponent;
  return [
    { name: "models", hash: "#/models" },
    { name: "model", hash: "#/models/fmnist" },
    { name: "why", hash: "#/models/fmnist/2/why" },
    { name: "lineage", hash: `#/lineage?q=${enc("fmnist:2")}` },
    { name: "drift", hash: `#/drift/fmnist/1/${enc(reportId)}` },
    { name: "runs", hash: "#/runs" },
    { name: "run", hash: `#/runs/${enc(b!.runId)}` },
    { name: "compare", hash: `#/compare?ids=${enc(`${a!.runId},${b!.runId}`)}` },
    { name: "datasets", hash: "#/datasets" },
    { name: "dataset", hash: `#/datasets/${b!.datasetId}` },
    { name: "dataset-diff", hash: `#/datasets/diff?a=${a!.datasetId}&b=${b!.datasetId}` },
    { name: "jobs", hash: "#/jobs" },
    ...jobs.map((j) => ({ name: "job", hash: `#/jobs/${enc(j.id)}` })),
  ];
}
