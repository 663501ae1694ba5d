// The settings registry (core/config/settings) is the only place the environment is read, and the README's
// configuration table is its generated copy.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineEnv, type DeprecatedUse } from "../../core/config/env.ts";
import { ALL_SETTINGS, SETTINGS_BY_NAME } from "../../core/config/settings/index.ts";
import { settingsTable, TABLE_END, TABLE_START, withSettingsTable } from "../../core/config/settings/table.ts";
import { ROOT } from "../fixtures/deploy/support.ts";

const SOURCE_DIRS = [
  "core",
  "cli",
  "serving",
  "functions",
  "trainer",
  "evaluation",
  "bench",
  "scripts",
  ".github/scripts",
];
/** The registry itself, which alone may name process.env's variables. */
const REGISTRY = (path: string): boolean => path === "core/config/env.ts" || path.startsWith("core/config/settings/");

/** Every file below `dirs` whose path `keep` accepts, with its text. */
function filesIn(dirs: readonly string[], keep: (path: string) => boolean): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(ROOT, dir))) {
      const path = `${dir}/${name}`;
      if (statSync(join(ROOT, path)).isDirectory()) walk(path);
      else if (keep(path)) out.push({ path, text: readFileSync(join(ROOT, path), "utf8") });
    }
  };
  for (const d of dirs) walk(d);
  return out;
}

const sources = (): { path: string; text: string }[] =>
  filesIn(SOURCE_DIRS, (path) => /\.(ts|js)$/.test(path) && !REGISTRY(path));

/** SIGHTLINE_ names a file uses that the registry does not define; `SIGHTLINE_OPENLINEAGE_*` and `"SIGHTLINE_"` are prefixes. */
export function unregisteredNames(text: string, known: ReadonlyMap<string, unknown> = SETTINGS_BY_NAME): string[] {
  const names = [...known.keys()];
  const out = new Set<string>();
  for (const m of text.matchAll(/\bSIGHTLINE_[A-Z0-9_]*(\*)?/g)) {
    const found = m[0];
    const prefix = found.endsWith("_") || found.endsWith("*") || found === "SIGHTLINE_";
    const name = found.replace(/\*$/, "");
    if (prefix ? !names.some((n) => n.startsWith(name)) : !known.has(name)) out.add(name);
  }
  return [...out];
}

/** Direct reads of a registered variable (or any SIGHTLINE_ one) from process.env. */
export function processEnvReads(text: string, known: ReadonlyMap<string, unknown> = SETTINGS_BY_NAME): string[] {
  return [...text.matchAll(/process\.env(?:\.([A-Z][A-Z0-9_]*)|\[\s*"([A-Z][A-Z0-9_]*)"\s*\])/g)]
    .map((m) => (m[1] ?? m[2])!)
    .filter((n) => n.startsWith("SIGHTLINE") || known.has(n));
}

describe("the settings registry", () => {
  it("defines each name once, with a one-line doc and at least one reader", () => {
    const names = ALL_SETTINGS.flatMap((v) => [v.name]);
    expect(new Set(names).size).toBe(names.length);
    for (const v of ALL_SETTINGS) {
      expect(v.doc.trim(), v.name).not.toBe("");
      expect(v.doc, v.name).not.toMatch(/\n/);
      expect(v.components.length, v.name).toBeGreaterThan(0);
      // A default must be a value the variable accepts.
      if (v.default !== undefined) expect(() => v.read({}), v.name).not.toThrow();
    }
  });

  it("every SIGHTLINE_ name in the source is registered", () => {
    const files = sources();
    expect(files.length).toBeGreaterThan(100);
    expect(files.some((f) => f.path === "serving/config.ts")).toBe(true);
    const offending = files.flatMap(({ path, text }) => unregisteredNames(text).map((n) => `${path}: ${n}`));
    expect(offending).toEqual([]);
    // And the check bites: a name the registry does not know, and a prefix nothing has.
    expect(unregisteredNames("const x = env.SIGHTLINE_NEW_SETTING; // SIGHTLINE_SERVE_* SIGHTLINE_NOPE_*")).toEqual([
      "SIGHTLINE_NEW_SETTING",
      "SIGHTLINE_NOPE_",
    ]);
    expect(unregisteredNames("SIGHTLINE_SERVE_MODEL, SIGHTLINE_MODEL (old), SIGHTLINE_OPENLINEAGE_*")).toEqual([]);
  });

  it("every SIGHTLINE_ name in the docs and the deployment files is registered (a hand-written table cannot keep a renamed variable)", () => {
    const files = filesIn(
      ["docs", "k8s", "terraform", ".github/workflows", "examples", "serving", "trainer", "functions"],
      (path) => /\.(md|ya?ml|tf|py|sh)$|\/Dockerfile$/.test(path),
    );
    for (const f of ["README.md", ".ci/run"]) files.push({ path: f, text: readFileSync(join(ROOT, f), "utf8") });
    expect(files.some((f) => f.path === "k8s/base/serving-deployment.yaml")).toBe(true);
    // GitHub Actions repository variables (`vars.NAME` in cd.yml, printed by terraform's outputs): the workflow's, not ours.
    const githubVariables = new Set(["SIGHTLINE_MODEL_NAME"]);
    const offending = files.flatMap(({ path, text }) =>
      unregisteredNames(text)
        .filter((n) => !githubVariables.has(n))
        .map((n) => `${path}: ${n}`),
    );
    expect(offending).toEqual([]);
  });

  it("nothing outside the registry reads a variable from process.env", () => {
    const offending = sources().flatMap(({ path, text }) =>
      processEnvReads(text).map((n) => `${path}: process.env.${n}`),
    );
    expect(offending).toEqual([]);
    expect(processEnvReads('process.env.SIGHTLINE_X; process.env["PORT"]; process.env.HOME')).toEqual([
      "SIGHTLINE_X",
      "PORT",
    ]);
  });
});

describe("README.md's configuration table", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");

  it("is the one the registry generates (node scripts/env-table.ts rewrites it)", () => {
    expect(withSettingsTable(readme), "README.md is stale: run node scripts/env-table.ts").toBe(readme);
  });

  it("lists every variable with its doc, hides secrets, and names the old names", () => {
    const table = readme.slice(readme.indexOf(TABLE_START), readme.indexOf(TABLE_END));
    for (const v of ALL_SETTINGS) {
      const row = table.split("\n").find((l) => l.startsWith(`| \`${v.name}\``));
      expect(row, v.name).toBeDefined();
      expect(row, v.name).toContain(v.doc.replace(/\|/g, "\\|"));
      for (const alias of v.deprecatedAliases ?? []) expect(row, v.name).toContain(`was \`${alias}\``);
      if (v.secret) expect(row, v.name).toContain("secret");
    }
  });

  it("goes stale when a variable is added", () => {
    const added = defineEnv({ name: "SIGHTLINE_ADDED", schema: z.string(), doc: "a new setting", components: ["cli"] });
    const groups = [{ title: "Added", settings: [added] }];
    expect(withSettingsTable(readme, settingsTable(groups))).not.toBe(readme);
    expect(settingsTable(groups)).toContain("| `SIGHTLINE_ADDED` | — | cli | a new setting |");
  });
});

describe("defineEnv's old names", () => {
  const v = defineEnv({
    name: "SIGHTLINE_X_NEW",
    schema: z.string().min(2),
    doc: "x",
    components: ["cli"],
    deprecatedAliases: ["SIGHTLINE_X_OLD"],
    emptyIsUnset: true,
  });

  it("reads the old name when the new one is unset, reports it, and names it in errors", () => {
    const uses: DeprecatedUse[] = [];
    const onDeprecated = (u: DeprecatedUse): void => void uses.push(u);
    expect(v.read({ SIGHTLINE_X_OLD: "old" }, { onDeprecated })).toBe("old");
    expect(uses).toEqual([{ alias: "SIGHTLINE_X_OLD", name: "SIGHTLINE_X_NEW" }]);
    expect(v.read({ SIGHTLINE_X_NEW: "new", SIGHTLINE_X_OLD: "old" }, { onDeprecated })).toBe("new");
    expect(uses).toHaveLength(1);
    expect(() => v.read({ SIGHTLINE_X_OLD: "o" }, { onDeprecated })).toThrow(/^SIGHTLINE_X_OLD="o": /);
    // An empty value counts as unset for this variable, so the old name behind it is read.
    expect(v.read({ SIGHTLINE_X_NEW: "", SIGHTLINE_X_OLD: "old" }, { onDeprecated })).toBe("old");
  });

  it("logs one structured warning per old name and process by default", () => {
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (lines.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const once = defineEnv({
        name: "SIGHTLINE_Y_NEW",
        schema: z.string(),
        doc: "y",
        components: ["cli"],
        deprecatedAliases: ["SIGHTLINE_Y_OLD"],
      });
      once.read({ SIGHTLINE_Y_OLD: "a" });
      once.read({ SIGHTLINE_Y_OLD: "b" });
    } finally {
      process.stderr.write = write;
    }
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      severity: "WARNING",
      variable: "SIGHTLINE_Y_OLD",
      replacement: "SIGHTLINE_Y_NEW",
    });
  });
});

describe("renamed variables", () => {
  it("serving's model and the trainer's model name are two variables, both still reading SIGHTLINE_MODEL", () => {
    const serve = SETTINGS_BY_NAME.get("SIGHTLINE_SERVE_MODEL")!;
    const train = SETTINGS_BY_NAME.get("SIGHTLINE_TRAIN_MODEL_NAME")!;
    const quiet = { onDeprecated: () => {} };
    expect(serve.read({ SIGHTLINE_MODEL: "shoes@staging" }, quiet)).toBe("shoes@staging");
    expect(train.read({ SIGHTLINE_MODEL: "shoes" }, quiet)).toBe("shoes");
    // A trainer refuses serving's NAME@ALIAS, as it always has.
    expect(() => train.read({ SIGHTLINE_TRAIN_MODEL_NAME: "shoes@production" }, quiet)).toThrow(/a model name/);
    expect(SETTINGS_BY_NAME.get("SIGHTLINE_IMAGE")?.name).toBe("SIGHTLINE_TRAIN_JOB_IMAGE");
  });
});
