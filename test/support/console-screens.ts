import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { watchPage } from "./console-page.ts";

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
    watchPage(page, problems);
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
