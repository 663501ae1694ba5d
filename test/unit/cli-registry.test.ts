import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { runCli } from "../support/cli.ts";
import { GOOD, putDataset, registerTestVersion } from "../support/registry.ts";

const D = "3".repeat(64);

describe("sightline models / promote / rollback (the real command)", () => {
  const cwd = mkdtempSync(join(tmpdir(), "sightline-cli-registry-"));
  const env = { SIGHTLINE_HOME: join(cwd, "home"), SIGHTLINE_ACTOR: "tester" };
  const cli = (...args: string[]) => runCli(args, { cwd, env });

  beforeAll(async () => {
    const meta = new SqliteStore(join(cwd, "home", "meta.db"));
    await putDataset(meta, D);
    await registerTestVersion(meta, "fmnist", D, GOOD);
    await registerTestVersion(meta, "fmnist", D, { ...GOOD, accuracy: 0.3 });
    await registerTestVersion(meta, "fmnist", D, { ...GOOD, accuracy: 0.905 });
    await meta.close();
  });

  it("promotes, blocks with exit 2, waits for approval with exit 3, and rolls back", async () => {
    const first = await cli("promote", "fmnist", "1", "--reason", "first model");
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/pass\s+absolute:accuracy/);
    expect(first.stdout).toContain("promoted: fmnist@production is now 1");

    const blocked = await cli("promote", "fmnist", "2");
    expect(blocked.code).toBe(2);
    expect(blocked.stdout).toMatch(/FAIL\s+absolute:accuracy\s+0\.3000/);
    expect(blocked.stdout).toContain("blocked");

    const manual = join(cwd, "manual.yaml");
    writeFileSync(manual, "absolute: { accuracy: 0.8 }\napproval: manual\n");
    const pending = await cli("promote", "fmnist", "3", "--policy", manual);
    expect(pending.code).toBe(3);
    expect(pending.stdout).toContain("pending approval");
    const approved = await cli("promote", "fmnist", "3", "--policy", manual, "--approve", "--json");
    expect(approved.code).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({ outcome: "promoted", approval: "approved", actor: "tester" });

    const refused = await cli("rollback", "fmnist", "--reason", "regression");
    expect(refused.code).toBe(64);
    expect(refused.stderr).toMatch(/without --yes/);
    const rolled = await cli("rollback", "fmnist", "--reason", "regression", "--yes");
    expect(rolled.code).toBe(0);
    expect(rolled.stdout).toContain("fmnist@production: 3 → 1");

    const list = await cli("models", "list", "--json");
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ name: "fmnist", latestVersion: 3, aliases: { production: 1, previous: 3 } }),
    ]);
    const show = await cli("models", "show", "fmnist@production", "--json");
    expect(JSON.parse(show.stdout)).toMatchObject({ name: "fmnist", version: 1, aliases: ["production"] });
    const model = await cli("models", "show", "fmnist");
    expect(model.stdout).toMatch(/rollback\s+applied\s+production 3 → 1\s+by tester: regression/);
    expect(model.stdout).toMatch(/promotion\s+blocked/);
  });

  it("names what is missing", async () => {
    const missing = await cli("models", "show", "nope:1");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("nope:1 is not registered");
    const badRef = await cli("promote", "fmnist", "zero");
    expect(badRef.code).toBe(64);
  });

  it("exits 64 for a usage error, never a policy outcome's code, and decides nothing", async () => {
    const bogus = await cli("promote", "x", "1", "--bogus");
    expect(bogus.code).toBe(64);
    expect(bogus.stderr).toMatch(/unknown option '--bogus'/);
    expect(bogus.stdout).toBe("");
    const missing = await cli("promote", "fmnist");
    expect(missing.code).toBe(64);
    // The same blocked version still says "blocked" with its own code.
    const blocked = await cli("promote", "fmnist", "2");
    expect(blocked.code).toBe(2);
    expect(blocked.stdout).toContain("blocked: a rule failed");
  });
});
