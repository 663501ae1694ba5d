import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

// Stored records are read through their collection, which parses them; eslint.config.js forbids the old shortcut of
// asserting `.data`'s type. These lint a would-be file in place to prove the rule bites (and only where it should).
const root = fileURLToPath(new URL("../..", import.meta.url));
const eslint = new ESLint({ cwd: root });

async function dataAssertions(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${filePath}` });
  return result!.messages
    .filter((m) => m.ruleId === "no-restricted-syntax" && /assert the type of `\.data`/.test(m.message))
    .map((m) => m.message);
}

const READS = `import type { MetadataStore } from "../meta/metadata-store.ts";
type Thing = { name: string };
export async function plain(meta: MetadataStore): Promise<Thing> {
  const doc = (await meta.get("things", "a"))!;
  return doc.data as Thing;
}
export async function optional(meta: MetadataStore): Promise<Thing | undefined> {
  return (await meta.get("things", "a"))?.data as Thing | undefined;
}
export async function angle(meta: MetadataStore): Promise<Thing> {
  const doc = (await meta.get("things", "a"))!;
  return <Thing>(<unknown>doc.data);
}
`;

describe("no type assertions on .data", () => {
  for (const dir of ["core/registry", "cli/commands", "serving", "functions", "trainer", "evaluation"]) {
    it(`flags \`doc.data as T\`, \`doc?.data as T\` and \`<T>doc.data\` in ${dir}/`, async () => {
      const messages = await dataAssertions(`${dir}/data-probe.ts`, READS);
      expect(messages).toHaveLength(3);
      expect(messages[0]).toMatch(/through their collection \(defineCollection\)/);
    });
  }

  it("leaves other assertions alone, and tests", async () => {
    expect(
      await dataAssertions(
        "core/registry/data-probe.ts",
        'export const j = JSON.parse("{}") as { data: number };\nexport const d = j.data as number;\n',
      ),
    ).toHaveLength(1);
    expect(
      await dataAssertions(
        "core/registry/data-probe.ts",
        'export const j = JSON.parse("{}") as { data: number };\nexport const n = j.data;\n',
      ),
    ).toEqual([]);
    expect(await dataAssertions("test/unit/data-probe.ts", READS)).toEqual([]);
  });

  it("still enforces one private-member style where both rules apply", async () => {
    const [result] = await eslint.lintText(
      "export class K {\n  #p = 1;\n  q(): number {\n    return this.#p;\n  }\n}\n",
      { filePath: `${root}core/registry/data-probe.ts` },
    );
    expect(result!.messages.map((m) => m.message)).toEqual([expect.stringMatching(/TypeScript's `private`/)]);
  });
});
