import { readFileSync } from "node:fs";
import * as prettier from "prettier";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);

describe("formatting (Prettier, checked by npm test)", () => {
  it("npm test fails on an unformatted file: the check runs before the tests", () => {
    const scripts = (
      JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as { scripts: Record<string, string> }
    ).scripts;
    expect(scripts.test).toMatch(/prettier --check/);
    expect(scripts.test!.indexOf("prettier --check")).toBeLessThan(scripts.test!.indexOf("vitest"));
  });

  it("the repository's settings refuse an unformatted TypeScript file and accept its formatted form", async () => {
    const file = new URL("core/example.ts", root).pathname;
    const options = { ...(await prettier.resolveConfig(file)), filepath: file };
    expect(options.printWidth).toBe(120);
    const messy = "export const f=(a:number,b:number)=>{return a+b}\n";
    expect(await prettier.check(messy, options)).toBe(false);
    expect(await prettier.check(await prettier.format(messy, options), options)).toBe(true);
  });

  it("source folders are not ignored", async () => {
    for (const dir of ["core", "cli", "serving", "trainer", "functions", "evaluation", "bench", "test"]) {
      const info = await prettier.getFileInfo(new URL(`${dir}/x.ts`, root).pathname, {
        ignorePath: new URL(".prettierignore", root).pathname,
      });
      expect(info.ignored, dir).toBe(false);
    }
  });
});
