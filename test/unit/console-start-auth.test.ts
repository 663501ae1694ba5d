import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Session } from "../../console/api/write-schemas.ts";
import { TOKEN_FILE } from "../../console/server/identity.ts";
import { startConsole } from "../../console/server/start.ts";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { createLogger } from "../../core/telemetry/logger.ts";

describe("starting the console: who may write, from the settings", () => {
  let rt: Runtime;
  let home: string;
  let buildDir: string;
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "sightline-console-auth-"));
    rt = await openRuntime(loadConfig({ SIGHTLINE_HOME: home }, home), createLogger({}, { level: "CRITICAL" }));
    buildDir = join(home, "web");
  });
  afterAll(() => rt.close());

  it("by default: a 0600 token under SIGHTLINE_HOME, the same on every start, and a link that signs in as the actor", async () => {
    const first = await startConsole(rt, { host: "127.0.0.1", port: 0, env: {}, buildDir, actor: "carol@desk" });
    let url: URL;
    try {
      const path = join(home, TOKEN_FILE);
      expect(first.signIn?.tokenFile).toBe(path);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      url = new URL(first.signIn!.url);
      expect(url.pathname).toBe("/login");
      expect(url.searchParams.get("token")).toBe(readFileSync(path, "utf8").trim());
      const login = await fetch(url, { redirect: "manual" });
      expect(login.status).toBe(303);
      const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
      const session = Session.parse(await (await fetch(`${first.url}api/session`, { headers: { cookie } })).json());
      expect(session.actor).toBe("carol@desk");
    } finally {
      await first.stop();
    }
    const again = await startConsole(rt, { host: "127.0.0.1", port: 0, env: {}, buildDir });
    try {
      expect(new URL(again.signIn!.url).searchParams.get("token")).toBe(url.searchParams.get("token"));
    } finally {
      await again.stop();
    }
  }, 60_000);

  it("SIGHTLINE_CONSOLE_WRITES=off: no link, no session to sign in to, and every write is a 405", async () => {
    const running = await startConsole(rt, {
      host: "127.0.0.1",
      port: 0,
      env: { SIGHTLINE_CONSOLE_WRITES: "off" },
      buildDir,
    });
    try {
      expect(running.signIn).toBeUndefined();
      expect(await (await fetch(`${running.url}api/session`)).json()).toEqual({ mode: "off", actor: null, csrf: null });
      const post = await fetch(`${running.url}api/decisions/x/approve`, { method: "POST" });
      expect(post.status).toBe(405);
      expect((await fetch(`${running.url}login?token=x`)).status).toBe(404);
    } finally {
      await running.stop();
    }
  }, 60_000);

  it("SIGHTLINE_CONSOLE_AUTH=iap without an audience is a configuration error, and creates no token", async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), "sightline-console-iap-"));
    const iapRt = await openRuntime(
      loadConfig({ SIGHTLINE_HOME: elsewhere }, elsewhere),
      createLogger({}, { level: "CRITICAL" }),
    );
    try {
      await expect(
        startConsole(iapRt, { host: "127.0.0.1", port: 0, env: { SIGHTLINE_CONSOLE_AUTH: "iap" }, buildDir }),
      ).rejects.toMatchObject({ kind: "config", message: expect.stringMatching(/SIGHTLINE_CONSOLE_IAP_AUDIENCE/) });
      await expect(
        startConsole(iapRt, {
          host: "127.0.0.1",
          port: 0,
          env: { SIGHTLINE_CONSOLE_AUTH: "iap", SIGHTLINE_CONSOLE_IAP_AUDIENCE: "not-an-audience" },
          buildDir,
        }),
      ).rejects.toMatchObject({ kind: "config" });
      expect(() => statSync(join(elsewhere, TOKEN_FILE))).toThrow(/ENOENT/);
    } finally {
      await iapRt.close();
    }
  }, 60_000);
});
