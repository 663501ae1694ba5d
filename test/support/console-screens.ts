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
      // Expressions, not functions: they run in the page (this project's types have no DOM).
      await page.waitForFunction(
        `![...document.querySelectorAll("[role=status]")].some((e) => e.textContent === "Loading…")`,
      );
      // Lazy images (the dataset's thumbnails) load once scrolled to: scroll the page through, then wait for them.
      await page.evaluate(`(async () => {
        for (let y = 0; y < document.body.scrollHeight; y += 600) {
          scrollTo(0, y);
          await new Promise((resolve) => setTimeout(resolve, 30));
        }
        scrollTo(0, 0);
      })()`);
      await page.waitForFunction(`[...document.images].every((img) => img.complete)`);
      const file = join(dir, `${String(i + 1).padStart(2, "0")}-${view.name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      files.push(file);
    }
  } finally {
    await context.close();
  }
  return { files, problems };
}
