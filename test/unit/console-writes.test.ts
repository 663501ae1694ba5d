import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError, ModelDetail } from "../../console/api/schemas.ts";
import { CSRF_HEADER, Session, WriteResult } from "../../console/api/write-schemas.ts";
import { createConsoleApp } from "../../console/server/app.ts";
import { iapAuth, IAP_HEADER, IAP_ISSUER, localAuth, localToken } from "../../console/server/identity.ts";
import { parsePolicy } from "../../core/registry/policy.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { consoleWorld, MODEL, type ConsoleWorld } from "../support/console-world.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const listen = (handler: Handler): Promise<Server> =>
  new Promise((resolve) => {
    const s = createServer(handler).listen(0, "127.0.0.1", () => resolve(s));
  });
const urlOf = (s: Server): string => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
const close = (s: Server | undefined): Promise<void> => new Promise((r) => (s ? s.close(() => r()) : r()));

describe("the local token", () => {
  it("is created once, private to its user, and the same on the next start", () => {
    const home = mkdtempSync(join(tmpdir(), "console-token-"));
    const first = localToken(home);
    expect(first.created).toBe(true);
    expect(first.token).toMatch(/^[\w-]{43}$/);
    expect(statSync(first.path).mode & 0o777).toBe(0o600);
    const again = localToken(home);
    expect(again).toMatchObject({ token: first.token, created: false });
    expect(readFileSync(first.path, "utf8").trim()).toBe(first.token);
  });
});

describe("console writes over a real SQLite state, signed in with the local token", () => {
  const TOKEN = "test-token-0123456789";
  const ACTOR = "alice@laptop";
  let world: ConsoleWorld;
  let server: Server;
  let base: string;
  beforeAll(async () => {
    world = await consoleWorld();
    const app = createConsoleApp({
      meta: world.meta,
      blobs: world.blobs,
      log: createLogger({}, { level: "CRITICAL" }),
      allowedHosts: ["127.0.0.1", "localhost"],
      auth: localAuth(TOKEN, ACTOR),
      // The policy the pending decision was gated with.
      writes: {
        meta: world.meta,
        bus: world.bus,
        policy: parsePolicy("absolute: { accuracy: 0.8 }\napproval: manual\n"),
      },
    });
    server = await listen(app);
    base = urlOf(server);
  }, 60_000);
  afterAll(async () => {
    await close(server);
    await world.close();
  });

  async function signIn(): Promise<{ cookie: string; csrf: string }> {
    const res = await fetch(`${base}/login?token=${TOKEN}`, { redirect: "manual" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/");
    const set = res.headers.get("set-cookie")!;
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    expect(await res.text()).not.toContain(TOKEN);
    const cookie = set.split(";")[0]!;
    const session = Session.parse(await (await fetch(`${base}/api/session`, { headers: { cookie } })).json());
    expect(session).toMatchObject({ mode: "local", actor: ACTOR });
    return { cookie, csrf: session.csrf! };
  }

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(base + path, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  const code = async (res: Response): Promise<string> => ApiError.parse(await res.json()).error.code;

  it("answers the session without identity, and refuses a wrong token", async () => {
    const anon = Session.parse(await (await fetch(`${base}/api/session`)).json());
    expect(anon).toEqual({ mode: "local", actor: null, csrf: null });
    const wrong = await fetch(`${base}/login?token=nope`, { redirect: "manual" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
  });

  it("refuses a write without an identity (401), and a forged cookie is none", async () => {
    const path = `/api/decisions/${world.decision.id}/approve`;
    const none = await post(path, { reason: "looks good" }, { [CSRF_HEADER]: "x" });
    expect(none.status).toBe(401);
    expect(await code(none)).toBe("unauthenticated");
    const forged = await post(
      path,
      { reason: "looks good" },
      { cookie: "sightline_session=made-up", [CSRF_HEADER]: "x" },
    );
    expect(forged.status).toBe(401);
  });

  it("refuses a signed-in write without the CSRF header, with a wrong one, or from another site (403)", async () => {
    const { cookie, csrf } = await signIn();
    const path = `/api/decisions/${world.decision.id}/approve`;
    const body = { reason: "looks good" };
    expect(await code(await post(path, body, { cookie }))).toBe("csrf_invalid");
    const wrong = await post(path, body, { cookie, [CSRF_HEADER]: `${csrf.slice(0, -1)}x` });
    expect(wrong.status).toBe(403);
    const evil = await post(path, body, { cookie, [CSRF_HEADER]: csrf, origin: "https://evil.example" });
    expect(evil.status).toBe(403);
    expect(await code(evil)).toBe("cross_site");
    const site = await post(path, body, { cookie, [CSRF_HEADER]: csrf, "sec-fetch-site": "cross-site" });
    expect(site.status).toBe(403);
    // None of them changed anything: the decision is still pending.
    const m = ModelDetail.parse(await (await fetch(`${base}/api/models/${MODEL}`)).json());
    expect(m.audit[0]).toMatchObject({ outcome: "pending_approval", actor: "ci" });
  });

  it("validates the body: a write needs a reason", async () => {
    const { cookie, csrf } = await signIn();
    const res = await post(
      `/api/decisions/${world.decision.id}/approve`,
      { reason: "  " },
      { cookie, [CSRF_HEADER]: csrf },
    );
    expect(res.status).toBe(400);
    expect(await code(res)).toBe("body_invalid");
    const extra = await post(
      `/api/models/${MODEL}/promote`,
      { version: "2", reason: "x" },
      { cookie, [CSRF_HEADER]: csrf },
    );
    expect(extra.status).toBe(400);
  });

  it("approves the pending promotion: the audit row names the identity and the reason", async () => {
    const { cookie, csrf } = await signIn();
    const headers = { cookie, [CSRF_HEADER]: csrf, origin: base, "sec-fetch-site": "same-origin" };
    const res = await post(
      `/api/decisions/${world.decision.id}/approve`,
      { reason: "checked the drift report" },
      headers,
    );
    expect(res.status).toBe(200);
    const done = WriteResult.parse(await res.json());
    expect(done).toMatchObject({ model: MODEL, actor: ACTOR, outcome: "promoted", to: 2 });
    const m = ModelDetail.parse(await (await fetch(`${base}/api/models/${MODEL}`)).json());
    expect(m.aliases).toContainEqual({ alias: "production", version: 2 });
    expect(m.audit[0]).toMatchObject({
      actor: ACTOR,
      action: "promotion",
      outcome: "applied",
      to: 2,
      reason: "checked the drift report",
    });
    expect(m.decisions.find((d) => d.id === done.decisionId)).toMatchObject({ approval: "approved", actor: ACTOR });
    // Errors map by kind: approving it again is a conflict, an unknown decision is not found, a rollback with
    // nothing to go back to is refused as invalid.
    const again = await post(`/api/decisions/${world.decision.id}/approve`, { reason: "again" }, headers);
    expect([again.status, await code(again)]).toEqual([409, "decision_not_pending"]);
    const missing = await post(`/api/decisions/nope/approve`, { reason: "x" }, headers);
    expect([missing.status, await code(missing)]).toEqual([404, "decision_not_found"]);
    const back = await post(`/api/models/${MODEL}/rollback`, { reason: "x" }, headers);
    expect([back.status, await code(back)]).toEqual([400, "rollback_refused"]);
  });

  it("still refuses every other method and any POST that is not a write", async () => {
    expect((await fetch(`${base}/api/models`, { method: "POST" })).status).toBe(405);
    expect((await fetch(`${base}/api/models/${MODEL}/promote`, { method: "PUT" })).status).toBe(405);
    expect((await fetch(`${base}/login`, { method: "POST" })).status).toBe(405);
  });
});

describe("IAP's signed header, verified against a JWKS served on loopback", () => {
  const AUDIENCE = "/projects/123456789/global/backendServices/987654321";
  const KID = "test-key";
  let jwks: Server;
  let url: string;
  let key: KeyObject;
  let other: KeyObject;
  beforeAll(async () => {
    const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
    key = pair.privateKey;
    other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const jwk = { ...pair.publicKey.export({ format: "jwk" }), kid: KID, alg: "ES256", use: "sig" };
    jwks = await listen((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    url = `${urlOf(jwks)}/iap/verify/public_key-jwk`;
  });
  afterAll(() => close(jwks));

  const token = (claims: { aud?: string; exp?: number; iss?: string; email?: string }, signer = key) =>
    new SignJWT({ email: claims.email ?? "bob@example.com" })
      .setProtectedHeader({ alg: "ES256", kid: KID })
      .setIssuer(claims.iss ?? IAP_ISSUER)
      .setAudience(claims.aud ?? AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 600)
      .setSubject("accounts.google.com:1234")
      .sign(signer);

  it("takes the identity from a good token's email", async () => {
    const auth = iapAuth(AUDIENCE, url);
    expect(await auth.identify({ [IAP_HEADER]: await token({}) })).toEqual({ actor: "bob@example.com", via: "iap" });
    expect(await auth.identify({})).toBeUndefined();
  });

  it("refuses a wrong audience, an expired token, another issuer and a bad signature", async () => {
    const auth = iapAuth(AUDIENCE, url);
    const refused = async (t: string) =>
      auth.identify({ [IAP_HEADER]: t }).then(
        () => "accepted",
        (err: { status: number; code: string }) => `${err.status} ${err.code}`,
      );
    expect(await refused(await token({ aud: "/projects/1/global/backendServices/2" }))).toBe(
      "401 iap_assertion_invalid",
    );
    expect(await refused(await token({ exp: Math.floor(Date.now() / 1000) - 3600 }))).toBe("401 iap_assertion_expired");
    expect(await refused(await token({ iss: "https://accounts.google.com" }))).toBe("401 iap_assertion_invalid");
    expect(await refused(await token({}, other))).toBe("401 iap_assertion_invalid");
    expect(await refused("not.a.jwt")).toBe("401 iap_assertion_invalid");
  });

  it("signs writers in through the console: the session names the email, a bad header is a 401", async () => {
    const app = createConsoleApp({
      meta: undefined as never,
      blobs: undefined as never,
      log: createLogger({}, { level: "CRITICAL" }),
      auth: iapAuth(AUDIENCE, url),
      writes: { meta: undefined as never, bus: undefined as never, policy: parsePolicy("approval: manual\n") },
    });
    const server = await listen(app);
    try {
      const base = urlOf(server);
      const good = Session.parse(
        await (await fetch(`${base}/api/session`, { headers: { [IAP_HEADER]: await token({}) } })).json(),
      );
      expect(good).toMatchObject({ mode: "iap", actor: "bob@example.com" });
      expect(good.csrf).toMatch(/^[\w-]{43}$/);
      const bad = await fetch(`${base}/api/decisions/d/approve`, {
        method: "POST",
        headers: {
          [IAP_HEADER]: await token({}, other),
          [CSRF_HEADER]: good.csrf!,
          "content-type": "application/json",
        },
        body: JSON.stringify({ reason: "x" }),
      });
      expect(bad.status).toBe(401);
      const none = await fetch(`${base}/api/decisions/d/approve`, { method: "POST", headers: { [CSRF_HEADER]: "x" } });
      expect(none.status).toBe(401);
    } finally {
      await close(server);
    }
  });
});

describe("local sessions", () => {
  it("keep at most 64: signing in again and again drops the oldest, not the newest", async () => {
    const app = createConsoleApp({
      meta: undefined as never,
      blobs: undefined as never,
      log: createLogger({}, { level: "CRITICAL" }),
      auth: localAuth("tok", "me@here"),
      writes: { meta: undefined as never, bus: undefined as never, policy: parsePolicy("approval: manual\n") },
    });
    const server = await listen(app);
    try {
      const base = urlOf(server);
      const cookies: string[] = [];
      for (let i = 0; i < 65; i++) {
        const res = await fetch(`${base}/login?token=tok`, { redirect: "manual" });
        cookies.push(res.headers.get("set-cookie")!.split(";")[0]!);
      }
      const actor = async (cookie: string) =>
        Session.parse(await (await fetch(`${base}/api/session`, { headers: { cookie } })).json()).actor;
      expect(await actor(cookies[0]!)).toBeNull();
      expect(await actor(cookies[1]!)).toBe("me@here");
      expect(await actor(cookies[64]!)).toBe("me@here");
    } finally {
      await close(server);
    }
  });
});
