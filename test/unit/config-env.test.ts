import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError } from "../../core/config/config.ts";
import { defineEnv } from "../../core/config/env.ts";

const port = defineEnv({
  name: "SIGHTLINE_X_PORT",
  schema: z.coerce.number().int().positive(),
  default: "8080",
  doc: "port",
  components: ["serving"],
  deprecatedAliases: ["SIGHTLINE_OLD_PORT"],
});
const token = defineEnv({
  name: "SIGHTLINE_X_TOKEN",
  schema: z.string().min(8),
  doc: "token",
  secret: true,
  components: ["cli"],
});

describe("defineEnv", () => {
  it("parses the set value, an old alias, or the default", () => {
    expect(port.read({ SIGHTLINE_X_PORT: "9000" })).toBe(9000);
    expect(port.read({ SIGHTLINE_OLD_PORT: "7000" })).toBe(7000);
    expect(port.read({})).toBe(8080);
    expect(token.read({})).toBeUndefined();
  });
  it("names the variable and value in a ConfigError, hiding secrets", () => {
    expect(() => port.read({ SIGHTLINE_X_PORT: "abc" })).toThrow(ConfigError);
    expect(() => port.read({ SIGHTLINE_X_PORT: "abc" })).toThrow(/SIGHTLINE_X_PORT="abc"/);
    expect(() => token.read({ SIGHTLINE_X_TOKEN: "short" })).toThrow(/SIGHTLINE_X_TOKEN=\(hidden\)/);
    expect(() => token.read({ SIGHTLINE_X_TOKEN: "short" })).not.toThrow(/short/);
  });
});
