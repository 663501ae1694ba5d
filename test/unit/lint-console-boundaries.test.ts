import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

// The console's boundaries (eslint.config.js): each probe is a would-be file linted in place.
const root = fileURLToPath(new URL("../..", import.meta.url));
const eslint = new ESLint({ cwd: root });

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${filePath}` });
  return result!.messages.filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message);
}

describe("console dependency direction", () => {
  it("console/server may import core/ but not serving/ or cli/", async () => {
    expect(
      await restrictedImports(
        "console/server/probe.ts",
        'import { listModels } from "../../core/registry/model-version.ts";\nexport const l = listModels;\n',
      ),
    ).toEqual([]);
    const messages = await restrictedImports(
      "console/server/probe.ts",
      'import { createApp } from "../../serving/app.ts";\nimport { x } from "../../cli/tree.ts";\nexport const a = [createApp, x];\n',
    );
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatch(/console\/ may import only core/);
  });

  it("console/web may import console/api but not core/, the server, Node built-ins or server packages", async () => {
    expect(
      await restrictedImports(
        "console/web/src/probe.ts",
        'import { ModelList } from "../../api/schemas.ts";\nexport const m = ModelList;\n',
      ),
    ).toEqual([]);
    const code = [
      'import { listModels } from "../../../core/registry/model-version.ts";',
      'import { createConsoleApp } from "../../server/app.ts";',
      'import { readFile } from "node:fs/promises";',
      'import express from "express";',
      "export const all = [listModels, createConsoleApp, readFile, express];",
    ].join("\n");
    const messages = await restrictedImports("console/web/src/probe.ts", code);
    expect(messages).toHaveLength(4);
    expect(messages.every((m) => /runs in the browser/.test(m))).toBe(true);
  });

  it("console/api imports zod only", async () => {
    expect(
      await restrictedImports("console/api/probe.ts", 'import { z } from "zod";\nexport const s = z.string();\n'),
    ).toEqual([]);
    const messages = await restrictedImports(
      "console/api/probe.ts",
      'import { isDatasetId } from "../../core/ids.ts";\nexport const i = isDatasetId;\n',
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/zod only/);
  });
});
