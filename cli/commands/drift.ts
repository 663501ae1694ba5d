import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { compareFeatures, DriftInputError, type DriftComparison, type FeatureDrift } from "../../core/drift/compare.ts";
import { parseFeatureCsv } from "../../core/drift/features-csv.ts";
import { listReports, readReport, reportDueWindows } from "../../core/drift/detect.ts";
import {
  STRENGTH_MEANING,
  testStrength,
  windowReport,
  type ReportHistogram,
  type WindowReportView,
} from "../../core/drift/queries.ts";
import { DEFAULT_DRIFT_POLICY, loadDriftPolicy } from "../../core/drift/drift-policy.ts";
import { parseModelRef } from "../../core/registry/model-version.ts";
import { withRuntime, type CliContext } from "../context.ts";
import { positiveInt } from "../options.ts";
import { SIGHTLINE_DRIFT_POLICY } from "../../core/config/settings/functions.ts";

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

  drift
    .command("report")
    .description("the latest drift report of a model (or one version) in full, and the history of its reports")
    .argument("<model>", "NAME or NAME:VERSION")
    .option("--json", "print the latest report and the history as JSON")
    .option("--limit <n>", "reports in the history", positiveInt, 20)
    .option(
      "--window <seq>",
      "one window's report instead (needs NAME:VERSION), with reference-versus-window histograms",
      positiveInt,
    )
    .action(async (ref: string, opts: { json?: boolean; limit: number; window?: number }) =>
      withRuntime(ctx, async (rt) => {
        const { name, version } = parseModelRef(ref);
        if (opts.window !== undefined) {
          if (version === undefined) ctx.fail(`--window needs NAME:VERSION, not ${ref}`);
          const view = await windowReport(rt, name, version!, opts.window);
          if (opts.json) return ctx.out(JSON.stringify(view, null, 2));
          for (const line of formatWindowReport(view)) ctx.out(line);
          return;
        }
        const reports = await listReports(rt.meta, name, version);
        if (reports.length === 0)
          ctx.fail(
            `no drift report for ${ref} yet: reports come from served predictions (sightline serve with the functions running)`,
            1,
          );
        const latest = await readReport(rt.blobs, reports[0]!.digest);
        if (opts.json) return ctx.out(JSON.stringify({ latest, history: reports.slice(0, opts.limit) }, null, 2));
        const v = latest.verdict;
        ctx.out(
          `${latest.reportId}: ${v.drift ? "DRIFT" : "no drift"} — ${v.driftedTests.length} of ${v.tests.length} tests drifted (severity ${pct(v.severity)}${v.reason ? `; by ${v.reason === "share" ? "share of tests" : "one test below the Bonferroni-corrected p-value"}` : ""})`,
        );
        ctx.out(
          `window ${latest.window.seq}: ${latest.window.count} predictions (${latest.window.embeddings} with embeddings), ${latest.window.from} → ${latest.window.to}`,
        );
        ctx.out("");
        for (const line of testTable(v.tests)) ctx.out(line);
        for (const s of v.skipped) ctx.out(`  skipped ${s.name}: ${s.reason}`);
        ctx.out("");
        ctx.out("history (newest first):");
        for (const r of reports.slice(0, opts.limit))
          ctx.out(
            `  ${r.createdAt}  ${r.reportId}  ${r.drift ? "DRIFT" : "ok   "}  severity ${pct(r.severity)}  n=${r.window.count}  ${r.driftedTests.join(", ")}`,
          );
      }),
    );

  drift
    .command("check")
    .description("judge windows that are due by age (what Cloud Scheduler runs periodically on Google Cloud)")
    .action(async () =>
      withRuntime(ctx, async (rt) => {
        const { policy } = await loadDriftPolicy(SIGHTLINE_DRIFT_POLICY.read(ctx.env) ?? DEFAULT_DRIFT_POLICY);
        const { reports, failed } = await reportDueWindows({
          blobs: rt.blobs,
          meta: rt.meta,
          bus: rt.bus,
          log: ctx.log,
          policy,
        });
        if (reports.length === 0 && failed.length === 0) ctx.out("no window was due");
        for (const r of reports) ctx.out(`${r.reportId}: ${r.drift ? "DRIFT" : "no drift"} (n=${r.window.count})`);
        for (const f of failed) ctx.out(`${f.window}: NOT JUDGED: ${f.error}`);
        if (failed.length > 0)
          ctx.fail(`${failed.length} window(s) could not be judged; the next check tries them again`);
      }),
    );
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
  const d = result.dataset;
  return [
    ...testTable(
      result.features.map((f) => ({ ...f, name: f.feature })),
      "feature",
    ),
    "",
    `dataset: ${d.drifted ? "DRIFT" : "no drift"} — ${d.driftedFeatures} of ${d.totalFeatures} features drifted (${pct(d.share)}; threshold ${pct(d.threshold)})`,
  ];
}

type TestRow = Pick<
  FeatureDrift,
  "statistic" | "pValue" | "threshold" | "drifted" | "referenceSize" | "currentSize"
> & { name: string; test: string };

/** A table of tests: name, test, statistic, p-value, threshold, verdict, sample sizes. */
export function testTable(tests: readonly TestRow[], first = "test of"): string[] {
  const rows = tests.map((t) => [
    t.name,
    t.test,
    num(t.statistic),
    t.pValue === null ? "-" : num(t.pValue),
    rule(t),
    t.drifted ? "DRIFT" : "ok",
    `${t.referenceSize}/${t.currentSize}`,
    `${num(Math.round(testStrength(t) * 100) / 100)}x`,
  ]);
  const header = [first, "test", "statistic", "p-value", "drift when", "verdict", "ref/cur", "strength"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** One window's report: the verdict, the window, the tests, and each histogram as two rows of bars. */
export function formatWindowReport(r: WindowReportView): string[] {
  const v = r.verdict;
  const lines = [
    `${r.reportId}: ${v.drift ? "DRIFT" : "no drift"} — ${v.driftedTests.length} of ${v.tests.length} tests drifted (severity ${pct(v.severity)})`,
    `window ${r.window.seq}: ${r.window.count} predictions (${r.window.embeddings} with embeddings), ${r.window.from} → ${r.window.to}; segments ${r.window.segments.join(", ")}`,
    "",
    ...testTable(v.tests),
    ...v.skipped.map((s) => `  skipped ${s.name}: ${s.reason}`),
    "",
    `strength: ${STRENGTH_MEANING}`,
    "",
  ];
  if (!r.histograms.ok) return [...lines, `no histograms: ${r.histograms.error}`];
  lines.push("reference against window (shares over the same bins):");
  for (const h of r.histograms.items) lines.push(...histogramLines(h));
  for (const n of r.histograms.notDrawn) lines.push(`  ${n.name}: no histogram, ${n.reason}`);
  return lines;
}

const BLOCKS = " ▁▂▃▄▅▆▇█";

function histogramLines(h: ReportHistogram): string[] {
  const head = `  ${h.name} (${h.test}): ${pct(h.moved)} of the mass moved`;
  if (h.kind === "classes")
    return [head, `    ${h.classes.map((c, i) => `${c} ${pct(h.reference[i]!)} → ${pct(h.window[i]!)}`).join(", ")}`];
  // One character per bin, both rows on the same height scale, so they can be compared column by column.
  const top = Math.max(...h.reference, ...h.window) || 1;
  const bars = (shares: number[]) => shares.map((s) => BLOCKS[Math.round((s / top) * 8)]).join("");
  return [
    `${head}; ${h.reference.length} bins from ${num(h.edges[0]!)} to ${num(h.edges.at(-1)!)}`,
    `    reference |${bars(h.reference)}|`,
    `    window    |${bars(h.window)}|`,
  ];
}

const pct = (x: number): string => `${Math.round(x * 1000) / 10}%`;

function rule(t: Pick<FeatureDrift, "pValue" | "threshold">): string {
  return t.pValue === null ? `stat >= ${t.threshold}` : `p < ${t.threshold}`;
}

function num(x: number): string {
  if (x === 0 || !Number.isFinite(x)) return String(x);
  if (Math.abs(x) < 1e-4 || Math.abs(x) >= 1e6) return x.toExponential(4);
  const s = x.toPrecision(6);
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}
