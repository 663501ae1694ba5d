import { mkdtempSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compareFeatures, DriftInputError, type DriftComparison } from "../../core/drift/compare.ts";
import { parseFeatureCsv } from "../../core/drift/features-csv.ts";
import { seededRandom } from "../../core/util/random.ts";
import { runCli } from "../support/cli.ts";

function normal(n: number, shift: number, seed: number): number[] {
  const random = seededRandom(seed);
  return Array.from(
    { length: n },
    () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()) + shift,
  );
}
// Class labels in a fixed rotation: the same mix in every sample, so no chance false alarm.
const classes = (n: number, k: number): number[] => Array.from({ length: n }, (_, i) => i % k);

describe("compareFeatures", () => {
  it("picks KS / chi-squared up to 1,000 reference rows and Wasserstein / Jensen–Shannon above (Evidently defaults)", () => {
    const small = compareFeatures(
      { x: normal(500, 0, 1), c: classes(500, 3) },
      { x: normal(400, 0, 3), c: classes(400, 3) },
    );
    expect(small.features.map((f) => [f.feature, f.test, f.threshold])).toEqual([
      ["x", "ks", 0.05],
      ["c", "chi2", 0.05],
    ]);
    const large = compareFeatures(
      { x: normal(1500, 0, 1), c: classes(1500, 3) },
      { x: normal(1500, 0, 3), c: classes(1500, 3) },
    );
    expect(large.features.map((f) => [f.feature, f.test, f.threshold, f.pValue])).toEqual([
      ["x", "wasserstein", 0.1, null],
      ["c", "jensenshannon", 0.1, null],
    ]);
    for (const r of [small, large]) {
      expect(r.features.every((f) => !f.drifted)).toBe(true);
      expect(r.dataset).toMatchObject({ drifted: false, driftedFeatures: 0, totalFeatures: 2 });
    }
  });

  it("flags shifted features and the dataset when at least half of them drift", () => {
    const ref = { a: normal(800, 0, 1), b: normal(800, 0, 2), c: normal(800, 0, 3), d: normal(800, 0, 4) };
    const cur = { a: normal(800, 0.5, 5), b: normal(800, 0.5, 6), c: normal(800, 0, 7), d: normal(800, 0, 8) };
    const r: DriftComparison = compareFeatures(ref, cur);
    expect(r.features.map((f) => f.drifted)).toEqual([true, true, false, false]);
    expect(r.dataset).toEqual({ drifted: true, driftedFeatures: 2, totalFeatures: 4, share: 0.5, threshold: 0.5 });
    expect(r.features[0]).toMatchObject({ referenceSize: 800, currentSize: 800 });
    expect(compareFeatures(ref, cur, { datasetDriftShare: 0.75 }).dataset.drifted).toBe(false);
  });

  it("takes every threshold and the test choice from validated options", () => {
    const ref = { x: normal(300, 0, 1) };
    const cur = { x: normal(300, 0.2, 2) };
    const ks = compareFeatures(ref, cur).features[0]!;
    expect(compareFeatures(ref, cur, { ksPValue: Math.min(0.99, ks.pValue! * 2) }).features[0]!.drifted).toBe(true);
    expect(compareFeatures(ref, cur, { test: "psi", psiThreshold: 0.5 }).features[0]).toMatchObject({
      test: "psi",
      threshold: 0.5,
    });
    expect(compareFeatures(ref, cur, { tests: { x: "wasserstein" } }).features[0]!.test).toBe("wasserstein");
    expect(() => compareFeatures(ref, cur, { ksPValue: 2 })).toThrow();
    expect(() => compareFeatures(ref, cur, { threshold: 1 } as never)).toThrow();
  });

  it("refuses features missing on one side, empty columns and non-finite values", () => {
    expect(() => compareFeatures({ x: [1, 2] }, { y: [1, 2] })).toThrow(DriftInputError);
    expect(() => compareFeatures({ x: [1, 2] }, { x: [] })).toThrow(/no values in the current/);
    expect(() => compareFeatures({ x: [1, Number.NaN] }, { x: [1] })).toThrow(/non-finite/);
  });
});

describe("parseFeatureCsv", () => {
  it("reads one numeric column per feature", () => {
    expect(parseFeatureCsv("a, b\n1,2.5\n\n-3,4e2\n", "f.csv")).toEqual({ a: [1, -3], b: [2.5, 400] });
  });

  it("names file, line and column of a bad cell", () => {
    expect(() => parseFeatureCsv("a,b\n1,2\n3,abc\n", "cur.csv")).toThrow(
      'cur.csv: line 3, column "b": "abc" is not a number',
    );
    expect(() => parseFeatureCsv("a,b\n1,\n", "cur.csv")).toThrow('cur.csv: line 2, column "b": empty cell');
    expect(() => parseFeatureCsv("a,a\n1,2\n", "x.csv")).toThrow(/appears twice/);
    expect(() => parseFeatureCsv("a,b\n1,2,3\n", "x.csv")).toThrow(/x.csv: not a valid CSV file/);
    expect(() => parseFeatureCsv("a,b\n", "x.csv")).toThrow(/no data rows/);
  });
});

describe("sightline drift compare (the real command)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sightline-drift-"));
  const csv = (cols: Record<string, number[]>): string => {
    const names = Object.keys(cols);
    const n = cols[names[0]!]!.length;
    return (
      [
        names.join(","),
        ...Array.from({ length: n }, (_, i) => names.map((k) => cols[k]![i]!.toFixed(5)).join(",")),
      ].join("\n") + "\n"
    );
  };

  it("prints every feature's test, statistic, p-value, threshold and verdict, then the dataset verdict; exit 0 on drift", async () => {
    await writeFile(join(dir, "ref.csv"), csv({ x: normal(300, 0, 1), y: normal(300, 0, 2) }));
    await writeFile(join(dir, "cur.csv"), csv({ y: normal(200, 1, 3), x: normal(200, 0, 4) }));
    const run = await runCli(["drift", "compare", "ref.csv", "cur.csv"], { cwd: dir });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^feature\s+test\s+statistic\s+p-value\s+drift when\s+verdict/);
    expect(run.stdout).toMatch(/\nx\s+ks\s+[\d.]+\s+[\d.e-]+\s+p < 0\.05\s+ok\s+300\/200/);
    expect(run.stdout).toMatch(/\ny\s+ks\s+[\d.]+\s+[\d.e-]+\s+p < 0\.05\s+DRIFT\s+300\/200/);
    expect(run.stdout).toContain("dataset: DRIFT — 1 of 2 features drifted (50%; threshold 50%)");

    const json = await runCli(["drift", "compare", "ref.csv", "cur.csv", "--json"], { cwd: dir });
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout) as DriftComparison;
    expect(body.features.map((f) => [f.feature, f.test, f.drifted])).toEqual([
      ["x", "ks", false],
      ["y", "ks", true],
    ]);
    expect(body.dataset.drifted).toBe(true);
  });

  it("exits 1 naming the file, line and column of bad input, or the missing columns", async () => {
    await writeFile(join(dir, "bad.csv"), "x,y\n1,2\n3,oops\n");
    const bad = await runCli(["drift", "compare", "ref.csv", "bad.csv"], { cwd: dir });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('bad.csv: line 3, column "y": "oops" is not a number');
    await writeFile(join(dir, "narrow.csv"), "x\n1\n2\n");
    const narrow = await runCli(["drift", "compare", "ref.csv", "narrow.csv"], { cwd: dir });
    expect(narrow.code).toBe(1);
    expect(narrow.stderr).toContain("narrow.csv lacks column(s) of ref.csv: y");
    const absent = await runCli(["drift", "compare", "ref.csv", "absent.csv"], { cwd: dir });
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain("cannot read absent.csv");
  });
});
