import type { ValidationReport } from "../core/datasets/validate.ts";
import type { DatasetRecord } from "../core/datasets/version.ts";
import type { CliContext } from "./context.ts";

const SHOWN = 20;

/** Prints a validation report: one line per rule, then each violation with the file it names. */
export function printReport(ctx: CliContext, report: ValidationReport): void {
  ctx.out(`${report.ok ? "valid" : "INVALID"}: ${report.files} images, ${report.classes.length} classes`);
  for (const rule of report.rules) {
    ctx.out(`  ${rule.ok ? "ok  " : "FAIL"} ${rule.rule.padEnd(16)} ${rule.detail}`);
    for (const v of rule.violations.slice(0, SHOWN)) ctx.out(`         ${v.file ? `${v.file}: ` : ""}${v.message}`);
    if (rule.violations.length > SHOWN)
      ctx.out(`         … and ${rule.violations.length - SHOWN} more (--json lists all)`);
  }
}

/** A registered dataset in a few lines. */
export function describeRecord(r: DatasetRecord): string {
  const splits = ["train", "validation", "test"]
    .filter((s) => r.splits[s])
    .map((s) => `${s} ${r.splits[s]}`)
    .join(", ");
  return [
    `  name        ${r.name ?? "(unnamed)"}`,
    `  files       ${r.files} (${(r.bytes / 1024 / 1024).toFixed(2)} MiB), ${splits}`,
    `  classes     ${r.classes.join(", ")}`,
    `  validation  ${r.validation}`,
    `  manifest    ${r.manifestDigest}`,
  ].join("\n");
}
