// The Predict page in a browser: a real inference API (a real ONNX model on 127.0.0.1) beside the real
// `sightline ui --serving-url`, both over one embedded state; a real Fashion-MNIST image uploaded from the page.
// Its own small world (the tiny model), so the console's main e2e world stays as its counts expect.
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadServingConfig } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import { chromiumUnavailable, launchChromium } from "../support/browser.ts";
import { openWatched, seriousViolations } from "../support/console-page.ts";
import { SAMPLE } from "../support/datasets.ts";
import { publishTrained } from "../support/predict-world.ts";
import { tinyWorld, TINY_MODEL, type TinyWorld } from "../support/tiny-served-model.ts";

const CLI = fileURLToPath(new URL("../../cli/sightline.ts", import.meta.url));
const why = chromiumUnavailable();
const runs = !why || process.env.CI === "true";

type Ui = { child: ChildProcess; url: string; stdout: () => string };

/** The real `sightline ui` on a free port over `home`, resolved once it prints its URL and the Predict line. */
function startUi(home: string, args: string[] = []): Promise<Ui> {
  const child = spawn(process.execPath, [CLI, "ui", "--port", "0", ...args], {
    env: { ...process.env, SIGHTLINE_HOME: home, SIGHTLINE_CONSOLE_SERVING_URL: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let stdout = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString();
      const url = /console at (http:\/\/\S+)/.exec(stdout)?.[1];
      if (url && /Predict page: .*\n/.test(stdout)) resolve({ child, url, stdout: () => stdout });
    });
    child.once("exit", (code) => reject(new Error(`sightline ui exited ${code}: ${stderr}`)));
  });
}

const stopUi = (ui: Ui | undefined): Promise<void> =>
  new Promise((resolve) => {
    if (!ui || ui.child.exitCode !== null) return resolve();
    ui.child.once("exit", () => resolve());
    ui.child.kill("SIGTERM");
  });

const IMAGE = (() => {
  const dir = join(SAMPLE, "test", "trouser");
  return join(dir, readdirSync(dir).sort()[0]!);
})();

describe.runIf(runs)("the Predict page, against a real inference API", { timeout: 180_000 }, () => {
  let world: TinyWorld;
  let serving: RunningServer;
  let ui: Ui;
  let bare: Ui;
  let browser: Browser;
  beforeAll(async () => {
    if (why) throw new Error(`cannot drive the console: ${why}`);
    world = await tinyWorld();
    await publishTrained(world.rt, world.version);
    const config = loadServingConfig(
      {},
      {
        host: "127.0.0.1",
        port: 0,
        workers: 1,
        model: { name: TINY_MODEL, alias: "production" },
        predictionLog: { sampleRate: 1, embeddingRate: 0, bufferSize: 1000, flushMs: 200, maxRecordsPerEvent: 100 },
      },
    );
    serving = await startServer(world.rt, config, createLogger({}, { level: "CRITICAL" }), { defaultMetrics: false });
    [ui, bare, browser] = await Promise.all([
      startUi(world.home, ["--serving-url", serving.url]),
      startUi(world.home),
      launchChromium(),
    ]);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await Promise.all([stopUi(ui), stopUi(bare)]);
    await serving?.shutdown();
    await world?.close();
  });

  it("uploads a real image, shows the serving API's answer, and its lineage link leads to the prediction's graph", async () => {
    expect(ui.stdout()).toContain(`Predict page: images go to the serving API at ${serving.url}`);
    // What any client of the serving API gets for these bytes.
    const direct = (await (
      await fetch(`${serving.url}/predict`, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: readFileSync(IMAGE),
      })
    ).json()) as { predictions: { label: string; confidence: number }[] };
    const expected = direct.predictions[0]!;

    const { page, problems } = await openWatched(browser);
    await page.goto(ui.url);
    await page.getByRole("link", { name: "Predict" }).click();
    await page.getByRole("heading", { level: 1, name: "Predict" }).waitFor();
    // The heading comes first; the serving URL once the page has read the console's settings.
    await expect.poll(() => page.locator("main").innerText()).toContain(serving.url);
    expect(await seriousViolations(page)).toEqual([]);
    // The file input is labelled and reachable from the keyboard; the button waits for a file.
    const input = page.getByLabel("Image (PNG, JPEG or WebP)");
    await input.focus();
    expect(await page.evaluate("document.activeElement.id")).toBe("predict-file");
    expect(await page.getByRole("button", { name: "Predict" }).isDisabled()).toBe(true);
    await input.setInputFiles(IMAGE);
    // The preview is the local file, through an object URL the CSP allows.
    const preview = page.locator("figure.preview img");
    await preview.waitFor();
    expect(await preview.getAttribute("src")).toMatch(/^blob:/);
    await expect.poll(() => preview.evaluate((img: { naturalWidth: number }) => img.naturalWidth)).toBe(28);
    await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    const answer = page.locator("section[aria-labelledby=answer]");
    await page.getByRole("heading", { name: `Answer: ${expected.label}` }).waitFor();
    const text = await answer.innerText();
    expect(text).toContain(`${TINY_MODEL}:1`);
    expect(text).toContain(`${Math.round(expected.confidence * 1000) / 10}%`);
    expect(await answer.locator("table.scores tbody tr").count()).toBe(2);
    expect(await answer.locator("table.scores tbody tr th").first().innerText()).toBe(expected.label);
    const requestId = await answer.locator("dd.id").innerText();
    expect(requestId).toMatch(/\S{8,}/);
    await answer.getByRole("status").filter({ hasText: "Recorded in lineage." }).waitFor({ timeout: 20_000 });
    expect(await seriousViolations(page)).toEqual([]);
    // The phone's width: nothing scrolls sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
    await page.setViewportSize({ width: 1280, height: 900 });

    await answer.getByRole("link", { name: `Lineage of prediction ${requestId}` }).click();
    await page.getByRole("heading", { name: `Lineage of prediction ${requestId}` }).waitFor();
    for (const kind of ["prediction", "model", "run", "dataset"])
      expect(await page.locator(`svg rect.node.${kind}`).count(), kind).toBe(1);
    const table = await page.locator("main table").first().innerText();
    expect(table).toContain(requestId);
    expect(table).toContain(world.version.runId);
    expect(await seriousViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("a file that is not an image: the page says so, and the only error is that 415", async () => {
    const { page, problems } = await openWatched(browser);
    await page.goto(`${ui.url}#/predict`);
    await page.getByLabel("Image (PNG, JPEG or WebP)").setInputFiles({
      name: "notes.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("not an image\n"),
    });
    await page.getByRole("button", { name: "Predict" }).click();
    expect(await page.getByRole("alert").innerText()).toBe(
      "notes.txt is not an image (text/plain); choose a PNG, JPEG or WebP file",
    );
    expect(problems.filter((p) => !/415/.test(p))).toEqual([]);
    expect(await seriousViolations(page)).toEqual([]);
  });

  it("without a serving URL the page says so and how to set it", async () => {
    expect(bare.stdout()).toContain("Predict page: no serving API (--serving-url");
    const { page, problems } = await openWatched(browser);
    await page.goto(`${bare.url}#/predict`);
    await page.getByRole("heading", { name: "No serving API configured" }).waitFor();
    const text = await page.locator("main").innerText();
    expect(text).toContain("sightline ui --serving-url http://127.0.0.1:8080");
    expect(text).toContain("SIGHTLINE_CONSOLE_SERVING_URL");
    expect(await page.getByLabel("Image (PNG, JPEG or WebP)").count()).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  });
});

if (!runs) {
  describe("the Predict page in a browser", () => {
    it.skip(`needs Chromium: ${why}`, () => {});
  });
}
