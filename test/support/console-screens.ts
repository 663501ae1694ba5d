import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";

export type ConsoleView = { name: string; hash: string };

/**
 * A full-page PNG of each view into `dir` (`NN-name.png`), at a laptop's width, each once its data has loaded.
 * Returns the files written, and what went wrong on the pages (console errors, failed or refused requests).
 */
export async function screenshotViews(
  browser: Browser,
  base: string,
  views: readonly ConsoleView[],
  dir: string,
): Promise<{ files: string[]; problems: string[] }> {
  mkdirSync(dir, { recursive: true });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  const files: string[] = [];
  try {
    const page = await context.newPage();
    page.on("console", (m) => void (m.type() === "error" && problems.push(`console: ${m.text()}`)));
    page.on("pageerror", (e) => void problems.push(`page: ${e.message}`));
    page.on("response", (r) => void (r.status() >= 400 && problems.push(`response ${r.status()}: ${r.url()}`)));
    for (const [i, view] of views.entries()) {
      await page.goto(new URL(view.hash, base).toString());
      await page.locator("main h1").waitFor();
      await page.waitForLoadState("networkidle");
      while ((await page.getByText("Loading…", { exact: true }).count()) > 0) await page.waitForTimeout(50);
      // Lazy images (the dataset's thumbnails) load once scrolled to: bring each into view, then wait for them.
      const images = await page.locator("img").all();
      for (const img of images) await img.scrollIntoViewIfNeeded();
      await page.waitForLoadState("networkidle");
      for (const img of images) await img.evaluate((el) => (el as unknown as { decode(): Promise<void> }).decode());
      const file = join(dir, `${String(i + 1).padStart(2, "0")}-${view.name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      files.push(file);
    }
  } finally {
    await context.close();
  }
  return { files, problems };
}
