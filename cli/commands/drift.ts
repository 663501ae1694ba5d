import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { compareFeatures, DriftInputError, type DriftComparison, type FeatureDrift } from "../../core/drift/compare.ts";
import { parseFeatureCsv } from "../../core/drift/features-csv.ts";
import type { CliContext } from "../context.ts";

export function registerDrift(program: Command, ctx: CliContext): void {
  const drift = program.command("drift").description("measure distribution drift between a reference and current data");

  drift
    .command("compare")
    .description("test every feature (CSV column) of CUR against REF; drift is reported, not an error (exit 0)")
    .argument("<reference>", "reference CSV: header row of feature names, one numeric column per feature")
    .argument("<current>", "current CSV with the same columns (in any order)")
    .option("--json", "print the comparison as JSON")
    .action(async (refFile: string, curFile: string, opts: { json?: boolean }) => {
      const result = await compareCsvFiles(ctx, refFile, curFile);
      if (opts.json) return ctx.out(JSON.stringify({ reference: refFile, current: curFile, ...result }, null, 2));
      for (const line of formatComparison(result)) ctx.out(line);
    });
}

/** Reads both files and compares them; bad input ends the command with exit 1 and a message naming the problem. */
async function compareCsvFiles(ctx: CliContext, refFile: string, curFile: string): Promise<DriftComparison> {
  try {
    const [reference, current] = await Promise.all([readFeatures(refFile), readFeatures(curFile)]);
    const missingInCur = Object.keys(reference).filter((f) => !(f in current));
    const missingInRef = Object.keys(current).filter((f) => !(f in reference));
    if (missingInCur.length) ctx.fail(`${curFile} lacks column(s) of ${refFile}: ${missingInCur.join(", ")}`);
    if (missingInRef.length) ctx.fail(`${refFile} lacks column(s) of ${curFile}: ${missingInRef.join(", ")}`);
    return compareFeatures(reference, current);
  } catch (err) {
    if (err instanceof DriftInputError) ctx.fail(err.message);
    throw err;
  }
}

async function readFeatures(file: string): Promise<Record<string, number[]>> {
  let text: Buffer;
  try {
    text = await readFile(file);
  } catch (err) {
    throw new DriftInputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseFeatureCsv(text, file);
}

/** One line per feature (test, statistic, p-value, threshold, verdict, sample sizes), then the dataset verdict. */
export function formatComparison(result: DriftComparison): string[] {
  const rows = result.features.map((f) => [f.feature, f.test, num(f.statistic), f.pValue === null ? "-" : num(f.pValue), rule(f), f.drifted ? "DRIFT" : "ok", `${f.referenceSize}/${f.currentSize}`]);
  const header = ["feature", "test", "statistic", "p-value", "drift when", "verdict", "ref/cur"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  const d = result.dataset;
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
  return [
    line(header),
    ...rows.map(line),
    "",
    `dataset: ${d.drifted ? "DRIFT" : "no drift"} — ${d.driftedFeatures} of ${d.totalFeatures} features drifted (${pct(d.share)}; threshold ${pct(d.threshold)})`,
  ];
}

function rule(f: FeatureDrift): string {
  return f.pValue === null ? `stat >= ${f.threshold}` : `p < ${f.threshold}`;
}

function num(x: number): string {
  if (x === 0 || !Number.isFinite(x)) return String(x);
  if (Math.abs(x) < 1e-4 || Math.abs(x) >= 1e6) return x.toExponential(4);
  const s = x.toPrecision(6);
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}
