import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** Why a headless Chromium cannot run here (undefined when it can). In CI a missing Chromium is a failure. */
export function chromiumUnavailable(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (Debian package chromium)`;
}

/**
 * Opens a file in headless Debian Chromium and returns what a person would notice: console errors, page errors,
 * failed requests, and a few facts about the rendered page. Flags as this machine needs them: no sandbox as root,
 * no background networking (its connections are refused here).
 */
export async function renderPage(
  path: string,
): Promise<{ errors: string[]; title: string; svgs: number; text: string }> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("console", (m) => void (m.type() === "error" && errors.push(`console: ${m.text()}`)));
    page.on("pageerror", (e) => void errors.push(`page: ${e.message}`));
    page.on("requestfailed", (r) => void errors.push(`request: ${r.url()} ${r.failure()?.errorText ?? ""}`));
    await page.goto(`file://${path}`, { waitUntil: "load" });
    return {
      errors,
      title: await page.title(),
      svgs: await page.locator("svg").count(),
      text: await page.locator("body").innerText(),
    };
  } finally {
    await browser.close();
  }
}

/** Headless Debian Chromium with the flags this machine needs (see renderPage). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
