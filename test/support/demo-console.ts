import type { Browser, Locator } from "playwright-core";
import { expect } from "vitest";
import { startConsole } from "../../console/server/start.ts";
import type { Runtime } from "../../core/config/runtime.ts";
import { SIGHTLINE_SCREENSHOTS_DIR } from "../../core/config/settings/tools.ts";
import { Reports } from "../../core/drift/detect.ts";
import { getRun } from "../../core/jobs/run-record.ts";
import { listVersions } from "../../core/registry/model-version.ts";
import { listDecisions } from "../../core/registry/queries.ts";
import { RetrainDecisions } from "../../core/retrain/trigger.ts";
import { chromiumUnavailable, launchChromium } from "./browser.ts";
import { watchPage } from "./console-page.ts";
import { screenshotViews, type ConsoleView } from "./console-screens.ts";

/**
 * A newcomer's path, on the demo's state, through the console `sightline ui` serves (startConsole): from the model
 * page, real clicks on links reach why fmnist:2 replaced fmnist:1 (the drift report, the retrain request, the run,
 * the gate decision), each checked against the records core stores; then the drift report's and the run's links
 * lead to their pages. With SIGHTLINE_SCREENSHOTS_DIR set, every page is also captured there.
 */
export async function whyTheRetrainedVersion(rt: Runtime, env: Record<string, string>): Promise<void> {
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
    watchPage(page, problems);
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
    await page
      .getByRole("heading", { level: 1, name: `Drift report of fmnist:${report!.version}, window ${report!.seq}` })
      .waitFor();
    await page.getByRole("heading", { level: 2, name: "Tests" }).waitFor();
    const reportPage = await page.locator("main").innerText();
    expect(reportPage).toMatch(/Verdict\s+drift/);
    expect(reportPage).toContain(`${report!.window.count} (`);
    for (const test of report!.driftedTests) expect(reportPage).toContain(test);
    await page.goBack();
    await click(step("run").getByRole("link", { name: run!.runId }));
    await page.getByRole("heading", { level: 1, name: `Run ${run!.runId}` }).waitFor();
    expect(clicks).toBe(3);
    expect(problems).toEqual([]);
    const walked = Date.now();

    const dir = SIGHTLINE_SCREENSHOTS_DIR.read(process.env);
    if (dir) {
      const shots = await screenshotViews(browser, running.url, await consoleViews(rt, report!.seq), dir);
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
async function consoleViews(rt: Runtime, seq: number): Promise<ConsoleView[]> {
  const versions = await listVersions(rt.meta, "fmnist");
  const [a, b] = versions;
  const jobs = await rt.meta.query("jobs");
  const enc = encodeURIComponent;
  return [
    { name: "models", hash: "#/models" },
    { name: "model", hash: "#/models/fmnist" },
    { name: "why", hash: "#/models/fmnist/2/why" },
    { name: "lineage", hash: `#/lineage?q=${enc("fmnist:2")}` },
    { name: "drift", hash: "#/drift/fmnist/1" },
    { name: "drift-report", hash: `#/drift/fmnist/1/${seq}` },
    { name: "runs", hash: "#/runs" },
    { name: "run", hash: `#/runs/${enc(b!.runId)}` },
    { name: "compare", hash: `#/compare?ids=${enc(`${a!.runId},${b!.runId}`)}` },
    { name: "datasets", hash: "#/datasets" },
    { name: "dataset", hash: `#/datasets/${b!.datasetId}` },
    { name: "dataset-diff", hash: `#/datasets/diff?a=${a!.datasetId}&b=${b!.datasetId}` },
    { name: "jobs", hash: "#/jobs" },
    ...jobs.map((j) => ({ name: "job", hash: `#/jobs/${enc(j.id)}` })),
    { name: "predict", hash: "#/predict" },
  ];
}
