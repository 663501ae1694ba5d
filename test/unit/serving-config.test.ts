import { describe, expect, it } from "vitest";
import { ConfigError } from "../../core/config/config.ts";
import { loadServingConfig } from "../../serving/config.ts";

describe("serving configuration", () => {
  it("has defaults that follow the model's production alias", () => {
    const c = loadServingConfig({});
    expect(c).toMatchObject({
      port: 8080,
      model: { name: "fmnist", alias: "production" },
      maxBodyBytes: 10 * 1024 * 1024,
      ortThreads: 1,
      adminToken: undefined,
      corsOrigins: [],
    });
    expect(c.workers).toBeGreaterThanOrEqual(1);
  });

  it("reads every setting from the environment", () => {
    const c = loadServingConfig({
      PORT: "9000",
      SIGHTLINE_MODEL: "shoes:3",
      SIGHTLINE_SERVE_WORKERS: "3",
      SIGHTLINE_MAX_BODY_BYTES: "1000",
      SIGHTLINE_PREDICTION_LOG_RATE: "0.1",
      SIGHTLINE_ADMIN_TOKEN: "0123456789abcdef",
      SIGHTLINE_CORS_ORIGINS: "https://a.example, https://b.example",
    });
    expect(c).toMatchObject({
      port: 9000,
      model: { name: "shoes", version: 3 },
      workers: 3,
      maxBodyBytes: 1000,
      adminToken: "0123456789abcdef",
      corsOrigins: ["https://a.example", "https://b.example"],
    });
    expect(c.predictionLog.sampleRate).toBe(0.1);
  });

  it("reads the request log's sampling, the slow threshold and the trusted proxy hops, all logged and none trusted by default", () => {
    expect(loadServingConfig({})).toMatchObject({ requestLog: { sampleRate: 1, slowMs: 1000 }, trustedProxyHops: 0 });
    const c = loadServingConfig({
      SIGHTLINE_REQUEST_LOG_RATE: "0.05",
      SIGHTLINE_SLOW_REQUEST_MS: "250",
      SIGHTLINE_TRUSTED_PROXY_HOPS: "2",
    });
    expect(c).toMatchObject({ requestLog: { sampleRate: 0.05, slowMs: 250 }, trustedProxyHops: 2 });
  });

  it("reads the served model from SIGHTLINE_SERVE_MODEL, which wins over the old SIGHTLINE_MODEL", () => {
    expect(loadServingConfig({ SIGHTLINE_SERVE_MODEL: "shoes@staging" }).model).toEqual({
      name: "shoes",
      alias: "staging",
    });
    expect(loadServingConfig({ SIGHTLINE_SERVE_MODEL: "shoes:2", SIGHTLINE_MODEL: "bags:1" }).model).toEqual({
      name: "shoes",
      version: 2,
    });
    expect(() => loadServingConfig({ SIGHTLINE_SERVE_MODEL: "Not A Model" })).toThrow(/^SIGHTLINE_SERVE_MODEL:/);
  });

  it("names the variable that is wrong", () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: "http" }, /^PORT="http"/],
      [{ SIGHTLINE_MODEL: "Not A Model" }, /^SIGHTLINE_MODEL:/],
      [{ SIGHTLINE_PREDICTION_LOG_RATE: "2" }, /^SIGHTLINE_PREDICTION_LOG_RATE=/],
      [{ SIGHTLINE_ADMIN_TOKEN: "short" }, /^SIGHTLINE_ADMIN_TOKEN=\(hidden\): .*16 characters/],
      [{ SIGHTLINE_SERVE_WORKERS: "0" }, /^SIGHTLINE_SERVE_WORKERS=/],
      [{ SIGHTLINE_INTERNAL_PORT: "8080" }, /^SIGHTLINE_INTERNAL_PORT=8080 is PORT too/],
      [{ PORT: "9000", SIGHTLINE_INTERNAL_PORT: "9000" }, /^SIGHTLINE_INTERNAL_PORT=9000 is PORT too/],
      [{ SIGHTLINE_REQUEST_LOG_RATE: "1.5" }, /^SIGHTLINE_REQUEST_LOG_RATE="1.5"/],
      [{ SIGHTLINE_REQUEST_LOG_RATE: "some" }, /^SIGHTLINE_REQUEST_LOG_RATE="some"/],
      [{ SIGHTLINE_SLOW_REQUEST_MS: "0" }, /^SIGHTLINE_SLOW_REQUEST_MS=/],
      // A count, never "true": trusting every hop would let clients write their own address.
      [{ SIGHTLINE_TRUSTED_PROXY_HOPS: "true" }, /^SIGHTLINE_TRUSTED_PROXY_HOPS="true"/],
      [{ SIGHTLINE_TRUSTED_PROXY_HOPS: "-1" }, /^SIGHTLINE_TRUSTED_PROXY_HOPS=/],
    ];
    for (const [env, message] of cases) {
      expect(() => loadServingConfig(env)).toThrow(ConfigError);
      expect(() => loadServingConfig(env)).toThrow(message);
    }
  });
});
