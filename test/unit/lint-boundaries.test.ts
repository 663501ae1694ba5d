import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

// The dependency direction is enforced by eslint.config.js; these lint a would-be file in place to prove it bites.
const root = fileURLToPath(new URL("../..", import.meta.url));
const eslint = new ESLint({ cwd: root });

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${filePath}` });
  return result!.messages.filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message);
}

describe("dependency direction", () => {
  it("core/ may not import serving/", async () => {
    const messages = await restrictedImports(
      "core/registry/boundary-probe.ts",
      'import { createApp } from "../../serving/app.ts";\nexport const app = createApp;\n',
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/core\/ is the domain/);
  });

  it("core/ may not import onnxruntime-node", async () => {
    const messages = await restrictedImports(
      "core/imaging/boundary-probe.ts",
      'import * as ort from "onnxruntime-node";\nexport const o = ort;\n',
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/onnxruntime/);
  });

  it("trainer/ may not import serving/", async () => {
    const messages = await restrictedImports(
      "trainer/boundary-probe.ts",
      'import { createApp } from "../serving/app.ts";\nexport const app = createApp;\n',
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/trainer\/ may import only core/);
  });

  it("serving/ may not import trainer/", async () => {
    const messages = await restrictedImports(
      "serving/boundary-probe.ts",
      'import { run } from "../trainer/run.ts";\nexport const r = run;\n',
    );
    expect(messages).toHaveLength(1);
  });

  it("core/ importing core/ is fine", async () => {
    const messages = await restrictedImports(
      "core/registry/boundary-probe.ts",
      'import { SightlineError } from "../errors.ts";\nexport const e = SightlineError;\n',
    );
    expect(messages).toEqual([]);
  });
});
