// Authenticated inference on a real server (loopback, real ONNX model): API keys checked against SHA-256 hashes,
// and Google ID tokens verified against a JWKS served on loopback the way Google serves its own.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../core/config/config.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadServingConfig, type ServeAuth } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import { schemaErrors } from "../support/oip-spec.ts";
import { greyPng, tinyWorld, TINY_MODEL, type TinyWorld } from "../support/tiny-served-model.ts";

const quiet = createLogger({}, { level: "CRITICAL" });
const AUDIENCE = "https://sightline.example.com";
const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

let world: TinyWorld;
let png: Buffer;
beforeAll(async () => {
  world = await tinyWorld();
  png = await greyPng(200);
});
afterAll(async () => world?.close());

async function serve(auth: ServeAuth): Promise<RunningServer> {
  const config = loadServingConfig(
    {},
    {
      host: "127.0.0.1",
      port: 0,
      workers: 1,
      model: { name: TINY_MODEL, alias: "production" },
      auth,
      predictionLog: { sampleRate: 0, embeddingRate: 0, bufferSize: 1, flushMs: 1000, maxRecordsPerEvent: 1 },
    },
  );
  return startServer(world.rt, config, quiet, { defaultMetrics: false });
}

const predict = (server: RunningServer, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/predict`, { method: "POST", headers: { "content-type": "image/png", ...headers }, body: png });

async function expectOpenProbes(server: RunningServer): Promise<void> {
  for (const path of ["/health", "/ready", "/v2/health/live", "/v2/health/ready"])
    expect((await fetch(`${server.url}${path}`)).status, path).toBe(200);
}

describe("serving auth: api-key", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await serve({
      mode: "api-key",
      keyHashes: [sha256("first-key-0123456789"), sha256("second-key-0123456789")],
    });
  });
  afterAll(async () => server?.shutdown());

  it("refuses inference without a key, with 401, WWW-Authenticate and the JSON error", async () => {
    const res = await predict(server);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="sightline"/);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    // OIP routes refuse the same way, with the spec's error body.
    for (const res of [
      await fetch(`${server.url}/v2/models/${TINY_MODEL}`),
      await fetch(`${server.url}/v2/models/${TINY_MODEL}/infer`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      }),
    ]) {
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="sightline"/);
      expect(schemaErrors("inference_error_response", await res.json())).toEqual([]);
    }
  });

  it("refuses a wrong key and a stored hash presented as the key", async () => {
    for (const key of ["first-key-012345678", "first-key-0123456789x", sha256("first-key-0123456789")]) {
      const res = await predict(server, { authorization: `Bearer ${key}` });
      expect(res.status, key).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
    }
  });

  it("accepts either key, as a bearer token or in x-api-key", async () => {
    expect((await predict(server, { authorization: "Bearer first-key-0123456789" })).status).toBe(200);
    expect((await predict(server, { "x-api-key": "second-key-0123456789" })).status).toBe(200);
  });

  it("keeps the probes open", () => expectOpenProbes(server));

  it("CD's smoke test passes with SIGHTLINE_SMOKE_API_KEY and fails without it", async () => {
    const smoke = (key: string | undefined) =>
      promisify(execFile)(
        process.execPath,
        [".github/scripts/smoke-test.ts", server.url, "--model", TINY_MODEL, "--attempts", "1"],
        {
          env: { ...process.env, SIGHTLINE_SMOKE_API_KEY: key ?? "" },
        },
      );
    await expect(smoke("first-key-0123456789")).resolves.toMatchObject({
      stdout: expect.stringContaining("smoke test passed"),
    });
    await expect(smoke(undefined)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining("/predict answered 401"),
    });
  });
});

describe("serving auth: google-id-token", () => {
  let server: RunningServer;
  let jwks: Server;
  let google: CryptoKey;
  let stranger: CryptoKey;
  let jwksFetches = 0;

  const token = (
    claims: Record<string, unknown> = {},
    options: { key?: CryptoKey; kid?: string; expiresIn?: string | number } = {},
  ) =>
    new SignJWT({ email: "caller@example.com", ...claims })
      .setProtectedHeader({ alg: "RS256", kid: options.kid ?? "google-1" })
      .setIssuer(typeof claims.iss === "string" ? claims.iss : "https://accounts.google.com")
      .setAudience(typeof claims.aud === "string" ? claims.aud : AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? "1h")
      .sign(options.key ?? google);

  beforeAll(async () => {
    const pair = await generateKeyPair("RS256");
    google = pair.privateKey;
    stranger = (await generateKeyPair("RS256")).privateKey;
    const body = JSON.stringify({
      keys: [{ ...(await exportJWK(pair.publicKey)), kid: "google-1", alg: "RS256", use: "sig" }],
    });
    jwks = createServer((_req, res) => {
      jwksFetches++;
      res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=3600" }).end(body);
    });
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    server = await serve({
      mode: "google-id-token",
      audience: AUDIENCE,
      jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/oauth2/v3/certs`,
    });
  });
  afterAll(async () => {
    await server?.shutdown();
    await new Promise((resolve) => jwks?.close(resolve));
  });

  it("accepts a Google-signed token for the audience, under either issuer spelling", async () => {
    expect((await predict(server, { authorization: `Bearer ${await token()}` })).status).toBe(200);
    expect(
      (await predict(server, { authorization: `Bearer ${await token({ iss: "accounts.google.com" })}` })).status,
    ).toBe(200);
    expect(jwksFetches).toBe(1);
  });

  it("refuses a missing, expired, foreign-audience, foreign-issuer, unsigned or foreign-key token", async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${Buffer.from(JSON.stringify({ iss: "https://accounts.google.com", aud: AUDIENCE, exp: now + 600 })).toString("base64url")}.`;
    const cases: [string, string | undefined][] = [
      ["missing", undefined],
      ["expired", await token({}, { expiresIn: now - 120 })],
      ["other audience", await token({ aud: "https://other.example.com" })],
      ["other issuer", await token({ iss: "https://evil.example.com" })],
      ["unsigned", unsigned],
      ["signed by another key under Google's kid", await token({}, { key: stranger })],
      ["not a JWT", "hello"],
    ];
    for (const [what, t] of cases) {
      const res = await predict(server, t === undefined ? {} : { authorization: `Bearer ${t}` });
      expect(res.status, what).toBe(401);
      expect(res.headers.get("www-authenticate"), what).toMatch(/^Bearer realm="sightline"/);
      expect(((await res.json()) as { error: { code: string } }).error.code, what).toBe("unauthorized");
    }
  });

  it("keeps the probes open", () => expectOpenProbes(server));
});

describe("serving auth: configuration", () => {
  it("is off by default and needs its secret or audience when on", () => {
    expect(loadServingConfig({}).auth).toEqual({ mode: "none" });
    const hash = sha256("k");
    expect(
      loadServingConfig({
        SIGHTLINE_SERVE_AUTH: "api-key",
        SIGHTLINE_SERVE_API_KEY_HASHES: `sha256:${hash.toUpperCase()}, ${sha256("j")}`,
      }).auth,
    ).toEqual({ mode: "api-key", keyHashes: [hash, sha256("j")] });
    expect(
      loadServingConfig({ SIGHTLINE_SERVE_AUTH: "google-id-token", SIGHTLINE_SERVE_AUDIENCE: AUDIENCE }).auth,
    ).toEqual({ mode: "google-id-token", audience: AUDIENCE, jwksUrl: "https://www.googleapis.com/oauth2/v3/certs" });
    expect(() => loadServingConfig({ SIGHTLINE_SERVE_AUTH: "api-key" })).toThrow(/SIGHTLINE_SERVE_API_KEY_HASHES/);
    expect(() => loadServingConfig({ SIGHTLINE_SERVE_AUTH: "google-id-token" })).toThrow(/SIGHTLINE_SERVE_AUDIENCE/);
    expect(() => loadServingConfig({ SIGHTLINE_SERVE_AUTH: "basic" })).toThrow(ConfigError);
    // A key pasted where its hash belongs is refused, and not echoed.
    expect(() =>
      loadServingConfig({ SIGHTLINE_SERVE_AUTH: "api-key", SIGHTLINE_SERVE_API_KEY_HASHES: "my-secret-key" }),
    ).toThrow(/^SIGHTLINE_SERVE_API_KEY_HASHES=\(hidden\): .*SHA-256/);
  });
});
