import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportConsole, type ExportResult } from "../../console/server/export.ts";
import { getRun, putRun } from "../../core/jobs/run-record.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { chromiumUnavailable, launchChromium } from "../support/browser.ts";
import { runCli } from "../support/cli.ts";
import { consoleWorld, DRIFT_MODEL, MODEL } from "../support/console-world.ts";

const why = chromiumUnavailable();
// In CI a missing Chromium is a failure (the first test says so), never a silent skip.
const runs = !why || process.env.CI === "true";

/** A run tag that would run script if the data were ever put in the page as HTML or as script. */
const HOSTILE = "</script><script>window.__pwned = 1; alert(1)</script><!-- \u2028 & <b>bold</b>";

type Watched = { page: Page; problems: string[]; requests: string[]; dialogs: string[] };

async function open(browser: Browser): Promise<Watched> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const problems: string[] = [];
  const requests: string[] = [];
  const dialogs: string[] = [];
  page.on("console", (m) => void (m.type() === "error" && problems.push(`console: ${m.text()}`)));
  page.on("pageerror", (e) => void problems.push(`page: ${e.message}`));
  page.on("requestfailed", (r) => void problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ""}`));
  page.on("request", (r) => void requests.push(r.url()));
  page.on("dialog", (d) => void (dialogs.push(d.message()), d.dismiss()));
  return { page, problems, requests, dialogs };
}

describe.runIf(runs)("the console exported to one HTML file (sightline ui export), opened from file://", () => {
  let world: Awaited<ReturnType<typeof consoleWorld>>;
  let result: ExportResult;
  let browser: Browser;
  beforeAll(async () => {
    if (why) throw new Error(`cannot open the export: ${why}`);
    world = await consoleWorld();
    const run1 = (await getRun(world.meta, "run-1"))!;
    await putRun(world.meta, { ...run1, runId: "run-hostile", tags: { note: HOSTILE } });
    result = await exportConsole(
      { meta: world.meta, blobs: world.blobs, log: createLogger({}, { level: "CRITICAL" }) },
      {
        out: join(world.home, "export"),
        source: world.home,
        lineage: ["pred-d"],
        buildDir: join(mkdtempSync(join(tmpdir(), "sightline-export-build-")), "web"),
      },
    );
    await world.close();
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
  });

  it("shows real data on the models, model, drift and lineage pages, with no request but file:// and no error", async () => {
    expect(result.path).toBe(join(world.home, "export", "index.html"));
    const { page, problems, requests } = await open(browser);
    await page.goto(`file://${result.path}`);
    // Two models: the export opens on their list, with the snapshot's note (read-only) and its links.
    await page.getByRole("heading", { level: 1, name: "Models" }).waitFor();
    const note = page.getByRole("complementary");
    expect(await note.innerText()).toMatch(/^Snapshot of .+, exported \d{4}-\d\d-\d\d .+ Read-only/);
    expect(await page.getByRole("row", { name: new RegExp(`^${MODEL} 2 `) }).count()).toBe(1);

    await page.getByRole("link", { name: MODEL, exact: true }).click();
    await page.getByRole("heading", { name: "Gate decisions" }).waitFor();
    expect(await page.getByRole("rowheader", { name: `${MODEL}:2` }).count()).toBe(1);
    expect(await page.getByText("pending approval").count()).toBeGreaterThan(0);
    // Writes are hidden: a snapshot changes nothing.
    expect(await page.getByRole("heading", { name: "Change production" }).count()).toBe(0);
    expect(await page.getByRole("button", { name: /^(Approve|Promote)/ }).count()).toBe(0);
    // The note is part of the page: it must not make the console less accessible than it is live.
    const { violations } = await new AxeBuilder({ page })
      .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
      .analyze();
    expect(violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id)).toEqual([]);

    await note.getByRole("link", { name: `Drift of ${DRIFT_MODEL}:1` }).click();
    await page.getByRole("heading", { name: "Severity over time" }).waitFor();
    expect(await page.locator(".chart canvas").count()).toBeGreaterThan(0);
    expect(await page.getByRole("table", { name: /1 of 3 drifted/ }).count()).toBe(1);
    // The drifted window's report, histograms included, is in the snapshot too.
    await page.getByRole("link", { name: "Window 3", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: `Drift report of ${DRIFT_MODEL}:1, window 3` }).waitFor();
    await expect.poll(() => page.locator("figure.histogram-figure canvas").count()).toBe(5);
    await page.goBack();

    await note.getByRole("link", { name: "Lineage of pred-d" }).click();
    await page.getByRole("heading", { name: "Lineage of prediction pred-d" }).waitFor();
    expect(await page.locator("svg .node").count()).toBeGreaterThanOrEqual(4);
    await page.getByRole("button", { name: /^Verify .+ from the stored bytes$/ }).click();
    expect(
      await page
        .getByRole("status")
        .filter({ hasText: /checks passed/ })
        .innerText(),
    ).toMatch(/^Verified: /);

    // Back works offline (hash routing), and a page that was not exported says so instead of fetching.
    await page.goBack();
    await page.getByRole("heading", { name: `Drift of ${DRIFT_MODEL}:1` }).waitFor();
    await page.goto(`file://${result.path}#/runs/run-404`);
    expect(await page.getByRole("alert").innerText()).toMatch(/not in the snapshot/);

    expect(problems).toEqual([]);
    expect(requests.filter((u) => !u.startsWith("file://") && !u.startsWith("data:"))).toEqual([]);
  });

  it("puts data in the page as an inert JSON block: a hostile run tag is shown as text and never runs", async () => {
    const html = readFileSync(result.path, "utf8");
    expect(html).not.toContain("</script><script>window.__pwned");
    expect(html).not.toContain("\u2028");
    // The bundle and the data block: no other script element.
    expect(html.match(/<script\b/g)).toHaveLength(2);
    const { page, problems, dialogs } = await open(browser);
    await page.goto(`file://${result.path}#/runs/run-hostile`);
    await page.getByRole("heading", { level: 1, name: "Run run-hostile" }).waitFor();
    await page.getByRole("heading", { name: "Tags" }).waitFor();
    expect(
      await page
        .getByRole("row", { name: /^note / })
        .locator("td")
        .textContent(),
    ).toBe(HOSTILE);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator("b").count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("`sightline ui export --out FILE --lineage ID` writes the same pages over the configured stores", async () => {
    const out = join(world.home, "cli", "console.html");
    const run = await runCli(["ui", "export", "--out", out, "--lineage", "pred-d"], {
      cwd: world.home,
      env: { SIGHTLINE_HOME: world.home },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^Console snapshot: ${out} \\(\\d+ API answers, \\d+ KiB, \\d+ ms\\)`));
    expect(run.stdout).toContain(`open it in a browser: file://${out}`);
    const { page, problems } = await open(browser);
    await page.goto(`file://${out}#/lineage?q=pred-d`);
    await page.getByRole("heading", { name: "Lineage of prediction pred-d" }).waitFor();
    expect(problems).toEqual([]);
  }, 60_000);
});
