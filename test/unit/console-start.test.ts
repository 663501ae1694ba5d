import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { startConsole } from "../../console/server/start.ts";

describe("starting the console", () => {
  let rt: Runtime;
  let buildDir: string;
  beforeAll(async () => {
    const home = mkdtempSync(join(tmpdir(), "sightline-console-start-"));
    rt = await openRuntime(loadConfig({ SIGHTLINE_HOME: home }, home), createLogger({}, { level: "CRITICAL" }));
    buildDir = join(home, "web");
  });
  afterAll(() => rt.close());

  it("serves the built page on loopback with its security headers, and an empty registry", async () => {
    const running = await startConsole(rt, { host: "127.0.0.1", port: 0, env: {}, buildDir });
    try {
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await fetch(running.url);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toMatch(/^text\/html/);
      expect(page.headers.get("content-security-policy")).toMatch(/default-src 'none'/);
      expect(await page.text()).toMatch(/<div id="app"><\/div>/);
      expect(await (await fetch(`${running.url}api/models`)).json()).toEqual({ models: [] });
    } finally {
      await running.stop();
    }
  }, 60_000);

  it("fails with the listen error when the port is taken", async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      await expect(startConsole(rt, { host: "127.0.0.1", port, env: {}, buildDir })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      taken.close();
    }
  }, 60_000);
});
