import AxeBuilder from "@axe-core/playwright";
import type { Browser, Page } from "playwright-core";

/** A page and what a person would notice going wrong on it: console and page errors, failed or refused requests. */
export type Watched = { page: Page; problems: string[] };

/** Appends to `problems`, one line each, what goes wrong on `page`. */
export function watchPage(page: Page, problems: string[]): void {
  page.on("console", (m) => void (m.type() === "error" && problems.push(`console: ${m.text()}`)));
  page.on("pageerror", (e) => void problems.push(`page: ${e.message}`));
  page.on("requestfailed", (r) => void problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ""}`));
  page.on("response", (r) => void (r.status() >= 400 && problems.push(`response ${r.status()}: ${r.url()}`)));
}

export async function openWatched(browser: Browser, viewport = { width: 1280, height: 900 }): Promise<Watched> {
  // A context of its own per page: axe opens a page in the page's context to finish its run.
  const page = await (await browser.newContext({ viewport })).newPage();
  const problems: string[] = [];
  watchPage(page, problems);
  return { page, problems };
}

/** axe-core's WCAG 2.1 A/AA violations of impact serious or critical, one line each. */
export async function seriousViolations(page: Page): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
    .analyze();
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}
