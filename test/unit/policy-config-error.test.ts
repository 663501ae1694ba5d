// A policy or trainers file the operator names is configuration: a missing, unparsable or invalid one is a
// ConfigError, which the CLI answers with exit 78 (EX_CONFIG) like a bad variable.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../core/config/config.ts";
import { loadDriftPolicy } from "../../core/drift/drift-policy.ts";
import { loadTrainers } from "../../core/jobs/trainers.ts";
import { loadPolicy, parsePolicy } from "../../core/registry/policy.ts";
import { loadRetrainPolicy } from "../../core/retrain/policy.ts";
import { runCli } from "../support/cli.ts";

describe("policy files are configuration", () => {
  const dir = mkdtempSync(join(tmpdir(), "sightline-policy-"));
  const file = (name: string, text: string): string => (writeFileSync(join(dir, name), text), join(dir, name));
  const notYaml = file("not-yaml.yaml", "a: [unclosed");
  const wrongShape = file("wrong.yaml", "nonsense: true\n");
  const missing = join(dir, "missing.yaml");

  it.each([
    ["retrain policy", loadRetrainPolicy],
    ["promotion policy", loadPolicy],
    ["drift policy", loadDriftPolicy],
    ["trainers file", loadTrainers],
  ] as const)("%s: missing, not YAML, or invalid is a ConfigError naming the file", async (what, load) => {
    for (const path of [missing, notYaml, wrongShape]) {
      const err = await (load as (p: string) => Promise<unknown>)(path).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, `${what} ${path}`).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(what);
      expect((err as Error).message).toContain(path);
    }
  });

  it("a stored policy's text that no longer parses is not configuration (the file is not the operator's)", () => {
    expect(() => parsePolicy("absolute: { accuracy: high }")).toThrow(/promotion policy is invalid/);
    expect(() => parsePolicy("absolute: { accuracy: high }")).not.toThrow(ConfigError);
  });

  it("sightline promote exits 78 on an invalid --policy or SIGHTLINE_PROMOTION_POLICY", async () => {
    const env = { SIGHTLINE_HOME: join(dir, "home") };
    const byFlag = await runCli(["promote", "fmnist", "1", "--policy", wrongShape], { cwd: dir, env });
    expect(byFlag.stderr).toMatch(/promotion policy .*wrong\.yaml is invalid/);
    expect(byFlag.code).toBe(78);
    const byEnv = await runCli(["promote", "fmnist", "1"], {
      cwd: dir,
      env: { ...env, SIGHTLINE_PROMOTION_POLICY: missing },
    });
    expect(byEnv.stderr).toMatch(/cannot read promotion policy .*missing\.yaml/);
    expect(byEnv.code).toBe(78);
  });
});
