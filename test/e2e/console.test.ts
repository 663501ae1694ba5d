import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumUnavailable, launchChromium } from "../support/browser.ts";
import { openWatched, seriousViolations } from "../support/console-page.ts";
import { consoleWorld, DRIFT_MODEL, MODEL } from "../support/console-world.ts";
import { reportWithProfile } from "../support/drift-world.ts";

const CLI = fileURLToPath(new URL("../../cli/sightline.ts", import.meta.url));
const why = chromiumUnavailable();
// In CI a missing Chromium is a failure (the first test says so), never a silent skip.
const runs = !why || process.env.CI === "true";

const ACTOR = "e2e-tester@console";

/** Starts the real `sightline ui` on a free port over `home` and resolves with the URLs it prints. */
function startUi(home: string): Promise<{ child: ChildProcess; url: string; signIn: string; stderr: () => string }> {
  // The policy the world's pending decision was gated with.
  const policy = join(home, "manual-policy.yaml");
  writeFileSync(policy, "absolute: { accuracy: 0.8 }\napproval: manual\n");
  const child = spawn(process.execPath, [CLI, "ui", "--port", "0"], {
    env: { ...process.env, SIGHTLINE_HOME: home, SIGHTLINE_ACTOR: ACTOR, SIGHTLINE_PROMOTION_POLICY: policy },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    let stdout = "";
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString();
      const url = /console at (http:\/\/\S+)/.exec(stdout)?.[1];
      const signIn = /open once in your browser: (http:\/\/\S+)/.exec(stdout)?.[1];
      if (url && signIn) resolve({ child, url, signIn, stderr: () => stderr });
    });
    child.once("exit", (code) => reject(new Error(`sightline ui exited ${code}: ${stderr}`)));
  });
}

describe.runIf(runs)("the console in a browser, on a real state, served by `sightline ui`", () => {
  let world: Awaited<ReturnType<typeof consoleWorld>>;
  let ui: Awaited<ReturnType<typeof startUi>>;
  let browser: Browser;
  beforeAll(async () => {
    if (why) throw new Error(`cannot drive the console: ${why}`);
    world = await consoleWorld();
    // A drift report whose reference profile is gone: its page says so and still shows the rest.
    await reportWithProfile(world, `${DRIFT_MODEL}:1:3`, "orphan");
    await world.close();
    [ui, browser] = await Promise.all([startUi(world.home), launchChromium()]);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    ui?.child.kill("SIGTERM");
  });

  it("models: the list, then one model's versions, gate decision with its rules and audit trail", async () => {
    const { page, problems } = await openWatched(browser);
    await page.goto(ui.url);
    await page.getByRole("heading", { level: 1, name: "Models" }).waitFor();
    await expect.poll(() => page.locator("tbody tr").count()).toBe(2);
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByRole("link", { name: MODEL, exact: true }).click();
    await page.getByRole("heading", { name: "Gate decisions" }).waitFor();
    const text = await page.locator("main").innerText();
    expect(text).toContain(`${MODEL}:2`);
    expect(text).toMatch(/pending approval/i);
    expect(text).toContain("absolute:accuracy");
    expect(text).toContain("retrained on drift");
    expect(await seriousViolations(page)).toEqual([]);
    // Why version 2 exists, one click on: its lineage shows the retrain request and the drift report behind it.
    await page.getByRole("link", { name: /^run run-3/ }).click();
    await page.getByRole("heading", { name: `Lineage of model ${MODEL}:2` }).waitFor();
    const graph = await page.locator("main table").innerText();
    expect(graph).toContain("request (retrain on drift fashion:1:1)");
    expect(graph).toContain("drift report fashion:1:1");
    expect(problems).toEqual([]);
  });

  it("lineage: a prediction's request id, searched from the keyboard, reaches its dataset", async () => {
    const { page, problems } = await openWatched(browser);
    await page.goto(`${ui.url}#/lineage`);
    await page.getByLabel(/Prediction request id/).fill("pred-b");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Lineage of prediction pred-b" }).waitFor();
    expect(await page.locator("svg rect.node").count()).toBe(7);
    const table = await page.locator("table").innerText();
    expect(table).toContain(world.dataset.id);
    expect(table).toContain("9f1c2e4");
    // The verify button recomputes the model's digests from the stored bytes and lists each check.
    await page.getByRole("button", { name: /^Verify .+ from the stored bytes$/ }).click();
    const checks = page.locator("table.verify tbody tr");
    await checks.first().waitFor();
    const n = await checks.count();
    expect(n).toBeGreaterThan(2);
    expect(await page.locator("section[aria-labelledby=verify-title] [role=status]").innerText()).toMatch(
      new RegExp(`^(Verified|MISMATCH): \\d+ of ${n} checks passed$`),
    );
    expect(await seriousViolations(page)).toEqual([]);
    // A node of the graph is a link: following the dataset's opens its own lineage.
    await page.locator("svg a.node-link", { has: page.locator("rect.dataset") }).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: `Lineage of dataset ${world.dataset.id}` }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("drift: severity over time as a chart and a table of each window", async () => {
    const { page, problems } = await openWatched(browser);
    await page.goto(`${ui.url}#/drift`);
    await page.getByLabel("Model version").selectOption(`${DRIFT_MODEL}:1`);
    await page.getByRole("heading", { name: "Severity over time" }).waitFor();
    await page.locator(".chart canvas").first().waitFor();
    const rows = page.locator("section[aria-labelledby=windows] > .scroll > table > tbody > tr");
    expect(await rows.count()).toBe(3);
    expect(await rows.first().innerText()).toMatch(/drift/);
    await rows.first().locator("summary").click();
    expect(await rows.first().locator("table.inner tbody tr").count()).toBeGreaterThan(3);
    // Each test's strength: a chart labelled with what it shows, a toggle per test, the drift line at 1.
    const strength = page.locator("section[aria-labelledby=strength]");
    await strength.locator(".chart canvas").waitFor();
    expect(await strength.locator(".chart").getAttribute("aria-label")).toMatch(
      /^Strength of 6 tests over 3 windows, .* drift above 1: brightness \S+ at its strongest \(window 3\)/,
    );
    const toggles = strength.getByRole("checkbox");
    expect(await toggles.count()).toBe(6);
    await strength.getByRole("checkbox", { name: /^embedding/ }).uncheck();
    await strength.locator(".chart canvas").waitFor();
    expect(await strength.locator(".u-legend").innerText()).not.toContain("embedding");
    await strength.getByRole("button", { name: "All tests" }).click();
    expect(await strength.getByRole("checkbox", { name: /^embedding/ }).isChecked()).toBe(true);
    expect(await seriousViolations(page)).toEqual([]);

    // The drifted window opens its report: verdict, tests, and reference-versus-window histograms.
    await page.getByRole("link", { name: "Window 3", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: `Drift report of ${DRIFT_MODEL}:1, window 3` }).waitFor();
    expect(await page.locator("dl.facts").innerText()).toMatch(/drift, \d+(\.\d)?% of tests drifted/);
    const figures = page.locator("figure.histogram-figure");
    await expect.poll(() => figures.count()).toBe(5);
    await expect.poll(() => page.locator("figure.histogram-figure canvas").count()).toBe(5);
    const brightness = figures.filter({ has: page.getByRole("heading", { name: /^brightness/ }) });
    expect(await brightness.locator(".chart").getAttribute("aria-label")).toMatch(
      /^brightness \(ks\), reference 800 values against the window's 300, 20 bins .* of the mass moved\.$/,
    );
    await brightness.locator("summary").click();
    expect(await brightness.locator("table.inner tbody tr").count()).toBe(20);
    expect(await page.locator("main").innerText()).toContain("embedding: no histogram");
    expect(await seriousViolations(page)).toEqual([]);

    // A report whose profile cannot be read: the reason where the histograms would be, the rest as usual.
    await page.goto(`${ui.url}#/drift/orphan/1/3`);
    await page.getByRole("alert").waitFor();
    expect(await page.getByRole("alert").innerText()).toMatch(/^No histograms: the reference profile sha256:e+ cannot/);
    expect(await page.locator("section[aria-labelledby=tests] tbody tr").count()).toBe(6);
    expect(await page.locator("figure.histogram-figure").count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it("runs: the table filters and sorts; compare three runs shows the param diff, three curves and the matrices", async () => {
    const { page, problems } = await openWatched(browser);
    await page.goto(`${ui.url}#/runs`);
    await page.getByRole("heading", { level: 1, name: "Runs" }).waitFor();
    const rows = page.locator("table.runs tbody tr");
    await expect.poll(() => rows.count()).toBe(3);
    expect(await rows.first().innerText()).toContain("run-3");
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByLabel("Filter").fill('status = "failed"');
    await page.keyboard.press("Enter");
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().innerText()).toMatch(/run-2\s[\s\S]*failed/);
    await page.getByLabel("Filter").fill("");
    await page.keyboard.press("Enter");
    await expect.poll(() => rows.count()).toBe(3);
    await page.getByRole("button", { name: /^test_accuracy/ }).click();
    await expect.poll(() => rows.first().innerText()).toContain("run-3");
    await page.getByRole("button", { name: /^test_accuracy/ }).click();
    await expect.poll(() => rows.first().innerText()).toContain("run-1");
    // Paged by cursor: two rows a page, then the last one, then back.
    await page.goto(`${ui.url}#/runs?limit=2`);
    await expect
      .poll(() => rows.allInnerTexts())
      .toEqual([expect.stringContaining("run-3"), expect.stringContaining("run-2")]);
    await page.getByRole("button", { name: "Next page" }).click();
    await expect.poll(() => rows.allInnerTexts()).toEqual([expect.stringContaining("run-1")]);
    expect(await page.getByRole("button", { name: "Next page" }).isDisabled()).toBe(true);
    await page.getByRole("button", { name: "Previous page" }).click();
    await expect.poll(() => rows.count()).toBe(2);
    await page.goto(`${ui.url}#/runs`);
    await expect.poll(() => rows.count()).toBe(3);
    for (const id of ["run-1", "run-2", "run-3"]) await page.getByLabel(`Compare ${id}`).check();
    await page.getByRole("button", { name: "Compare selected (3)" }).click();
    await page.getByRole("heading", { level: 1, name: "Compare 3 runs" }).waitFor();
    const diff = await page.locator("section[aria-labelledby=param-diff] table").innerText();
    expect(diff).toMatch(/learningRate\s+0\.01\s+0\.02\s+0\.005/);
    expect(diff).toContain("epochs");
    expect(diff).not.toContain("architecture");
    // One curve per run: uPlot's legend lists the x axis, then each series.
    await page.locator("section[aria-labelledby=curves] .chart canvas").waitFor();
    const legend = page.locator("section[aria-labelledby=curves] .u-legend .u-series");
    expect(await legend.allInnerTexts()).toEqual([
      expect.any(String),
      ...["run-1", "run-2", "run-3"].map((r) => expect.stringContaining(r)),
    ]);
    await page.getByLabel("Metric", { exact: true }).selectOption("loss");
    await expect
      .poll(() => page.locator("section[aria-labelledby=curves] .chart").getAttribute("aria-label"))
      .toMatch(/^loss per epoch/);
    expect(await page.locator("table.confusion").count()).toBe(2);
    expect(await page.locator("section[aria-labelledby=confusions]").innerText()).toContain("No registered version");
    expect(await seriousViolations(page)).toEqual([]);
    // One run's own page: its stream, params, and links to its model version and lineage.
    await page.getByRole("link", { name: "run-3", exact: true }).first().click();
    await page.getByRole("heading", { level: 1, name: "Run run-3" }).waitFor();
    await page.locator(".chart canvas").first().waitFor();
    const text = await page.locator("main").innerText();
    expect(text).toContain(`${MODEL}:2`);
    expect(text).toContain("learningRate");
    expect(text).toContain("confusion_matrix");
    expect(await page.getByRole("link", { name: "lineage of run-3" }).getAttribute("href")).toBe("#/lineage?q=run-3");
    expect(await seriousViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("runs: a malformed filter shows the parser's message, and the only error is that 400", async () => {
    const { page, problems } = await openWatched(browser);
    await page.goto(`${ui.url}#/runs`);
    await page.getByLabel("Filter").fill("metrics.accuracy >");
    await page.keyboard.press("Enter");
    expect(await page.getByRole("alert").innerText()).toMatch(/^invalid filter at column \d+/);
    expect(problems.filter((p) => !/400/.test(p))).toEqual([]);
    expect(await seriousViolations(page)).toEqual([]);
  });

  it("datasets: versions, one version's validation, class balance and thumbnails, and the diff's counts", async () => {
    const { page, problems } = await openWatched(browser);
    await page.goto(`${ui.url}#/datasets`);
    await page.getByRole("heading", { level: 1, name: "Datasets" }).waitFor();
    await expect.poll(() => page.locator("main table tbody tr").count()).toBe(2);
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByRole("button", { name: "Show the diff" }).click();
    const diff = page.locator("table.diff");
    await diff.waitFor();
    const rows = await diff.locator("tbody tr").allInnerTexts();
    expect(rows.map((r) => r.split(/\s+/).slice(0, 4).join(" "))).toEqual([
      "bag 2 0 1",
      "sneaker 2 0 0",
      "trouser 2 1 0",
    ]);
    expect(await diff.locator("caption").innerText()).toContain("6 added, 1 removed, 1 changed");
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByRole("link", { name: /^to / }).click();
    await page.getByRole("heading", { name: "Class balance" }).waitFor();
    expect(await page.locator("section[aria-labelledby=validation] tbody tr").count()).toBeGreaterThan(3);
    expect(await page.locator("section[aria-labelledby=balance] svg rect").count()).toBeGreaterThan(3);
    const thumb = page.locator("ul.thumbs img").first();
    await thumb.waitFor();
    await expect.poll(() => thumb.evaluate((img: { naturalWidth: number }) => img.naturalWidth)).toBeGreaterThan(0);
    expect(await page.locator("ul.thumbs").count()).toBe(3);
    expect(await seriousViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("jobs: the table, then one job's log tail", async () => {
    const { page, problems } = await openWatched(browser);
    await page.goto(`${ui.url}#/jobs`);
    await page.getByRole("heading", { level: 1, name: "Jobs" }).waitFor();
    expect(await page.locator("main tbody tr").innerText()).toMatch(/succeeded/);
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByRole("link", { name: world.job }).click();
    await page.getByRole("heading", { name: "Log" }).waitFor();
    const log = await page.locator("pre.log").innerText();
    expect(log).toContain("epoch 4/4");
    expect(log.trim().split("\n").at(-1)).toBe("registered fashion:2");
    expect(await seriousViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("approve: signed in with the local token, a pending promotion is approved with a reason", async () => {
    const { page, problems } = await openWatched(browser);
    await page.goto(`${ui.url}#/models/${MODEL}`);
    // Not signed in: the page says how, and offers no write.
    await page.getByRole("heading", { name: "Change production" }).waitFor();
    expect(await page.getByRole("button", { name: `Approve ${MODEL}:2` }).count()).toBe(0);
    expect(await page.locator("main").innerText()).toMatch(/sign in/i);
    // Opening the printed link once signs this browser in; the token never reaches the page.
    await page.goto(ui.signIn);
    expect(page.url()).toBe(ui.url);
    expect(await page.content()).not.toContain(new URL(ui.signIn).searchParams.get("token")!);
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === "sightline_session")).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    await expect.poll(() => page.locator("tbody tr").count()).toBe(2);
    await page.getByRole("link", { name: MODEL, exact: true }).click();
    await page.getByText(`Signed in as ${ACTOR}.`).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    const approve = page.getByRole("button", { name: `Approve ${MODEL}:2` });
    // A reason is required before anything is asked.
    await approve.click();
    await page.getByRole("alert").filter({ hasText: "Give a reason" }).waitFor();
    await page.getByLabel(/^Reason/).fill("drift report checked, accuracy holds");
    await approve.click();
    await page
      .getByRole("group")
      .filter({ hasText: `as ${ACTOR}` })
      .waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByRole("status").filter({ hasText: "promoted to production" }).waitFor();
    const audit = page.locator("section[aria-labelledby=audit] tbody tr").first();
    await expect.poll(() => audit.innerText()).toContain(ACTOR);
    expect(await audit.innerText()).toContain("drift report checked, accuracy holds");
    expect(await audit.innerText()).toMatch(/promotion\s+applied/);
    expect(await page.locator("section[aria-labelledby=versions] tbody tr").first().innerText()).toContain(
      "production",
    );
    expect(problems).toEqual([]);
  });

  it("refuses an unauthenticated write from the page itself (no cookie), and one without the CSRF header", async () => {
    const { page } = await openWatched(browser);
    await page.goto(ui.signIn);
    await page.goto(`${ui.url}#/models/${MODEL}`);
    await page.getByRole("heading", { name: "Change production" }).waitFor();
    const statuses = await page.evaluate(`(async () => {
      const session = await (await fetch("/api/session")).json();
      const send = (credentials, headers) =>
        fetch("/api/models/${MODEL}/rollback", {
          method: "POST",
          credentials,
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify({ reason: "not allowed" }),
        }).then((r) => r.status);
      return [
        await send("omit", { "x-sightline-csrf": session.csrf }),
        await send("same-origin", {}),
      ];
    })()`);
    expect(statuses).toEqual([401, 403]);
  });

  it("fits a phone's width: no page scrolls sideways, and axe still finds nothing serious", async () => {
    const { page, problems } = await openWatched(browser, { width: 390, height: 844 });
    for (const path of [
      `#/models/${MODEL}`,
      `#/models/${MODEL}/2/why`,
      "#/lineage?q=pred-b",
      `#/drift/${DRIFT_MODEL}/1`,
      `#/drift/${DRIFT_MODEL}/1/3`,
      "#/runs",
      "#/compare?ids=run-1,run-2,run-3",
      "#/runs/run-1",
      `#/datasets/${world.dataset2.id}`,
      `#/datasets/diff?a=${world.dataset.id}&b=${world.dataset2.id}`,
      `#/jobs/${world.job}`,
    ]) {
      await page.goto(`${ui.url}${path}`);
      await page.locator("main table, main pre.log").first().waitFor();
      await expect
        .poll(() => page.locator("main [role=status]", { hasText: "Loading" }).count(), { message: path })
        .toBe(0);
      // A string: this file is type-checked for Node, where `document` does not exist.
      expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path).toBe(true);
      // Wide tables scroll inside their own region here: each must be reachable from the keyboard.
      expect(await seriousViolations(page), path).toEqual([]);
    }
    expect(problems).toEqual([]);
  });
});

if (!runs) {
  describe("the console in a browser", () => {
    it.skip(`needs Chromium: ${why}`, () => {});
  });
}
