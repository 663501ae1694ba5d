import { mkdtempSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ensureBuilt, sourcesDigest } from "../../console/server/build.ts";

describe("the console's front-end build", () => {
  it("builds once per change of its sources, into a page with no inline script or style", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "sightline-console-build-")), "web");
    expect(await ensureBuilt(out)).toBe(out);
    const html = await readFile(join(out, "index.html"), "utf8");
    // Every script is a file of ours (the CSP allows no other); no data and no style is inlined.
    const scripts = [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [tag, body] of scripts) {
      expect(tag).toMatch(/src="\/assets\/[^"]+\.js"/);
      expect(body!.trim()).toBe("");
    }
    expect(html).not.toMatch(/<style|style=/);
    expect(await readFile(join(out, ".sources.sha256"), "utf8")).toBe(await sourcesDigest());
    const built = (await stat(join(out, "index.html"))).mtimeMs;
    await ensureBuilt(out);
    expect((await stat(join(out, "index.html"))).mtimeMs).toBe(built);
  }, 60_000);
});
