import { ImagePool, type ProbeResult } from "../imaging/image-pool.ts";
import type { DatasetSpec } from "./spec.ts";
import type { Split } from "./split.ts";

export interface ValidationFile {
  path: string;
  label: string;
  split: Split;
  sha256: string;
}

export interface Violation {
  file?: string;
  message: string;
}

export interface RuleResult {
  rule: "decodes" | "image-spec" | "labels" | "min-per-class" | "class-imbalance" | "split-leakage";
  ok: boolean;
  detail: string;
  violations: Violation[];
}

export interface ValidationReport {
  ok: boolean;
  files: number;
  classes: string[];
  counts: Record<string, Partial<Record<Split, number>>>;
  rules: RuleResult[];
}

/** Probes every image in child processes (see ImagePool), then checks the dataset's contract (evaluateRules). */
export async function validateDataset(input: {
  classes: string[];
  spec: DatasetSpec;
  files: ValidationFile[];
  read: (file: ValidationFile) => Promise<Buffer>;
  onProgress?: (done: number, total: number) => void;
}): Promise<ValidationReport> {
  const pool = new ImagePool();
  let done = 0;
  try {
    const probes = await pool.probeAll(
      input.files.length,
      (i) => input.read(input.files[i] as ValidationFile),
      (n) => input.onProgress?.((done += n), input.files.length),
    );
    return evaluateRules({ ...input, probes });
  } finally {
    await pool.close();
  }
}

/**
 * Checks a dataset against its contract, given every image's probe: every image decodes, sizes and channels match
 * the declared spec (or the most common one), labels are the declared classes, each class has enough images,
 * classes are not too imbalanced, and no content appears in two splits.
 */
export function evaluateRules(input: {
  classes: string[];
  spec: DatasetSpec;
  files: ValidationFile[];
  probes: ProbeResult[];
}): ValidationReport {
  const { classes, spec, files } = input;
  const decoded = files.map((file, i) => {
    const p = input.probes[i];
    if (p === undefined) throw new Error(`no probe for ${file.path}`);
    return "error" in p ? { file, error: p.error } : { file, shape: `${p.width}x${p.height}x${p.channels}` };
  });

  const rules: RuleResult[] = [];
  const undecodable = decoded.flatMap((d) => (d.error === undefined ? [] : [{ file: d.file.path, message: d.error }]));
  rules.push({
    rule: "decodes",
    ok: undecodable.length === 0,
    detail: `${files.length - undecodable.length}/${files.length} images decode`,
    violations: undecodable,
  });

  const shapes = new Map<string, number>();
  for (const d of decoded) if (d.shape) shapes.set(d.shape, (shapes.get(d.shape) ?? 0) + 1);
  const expected = spec.image
    ? `${spec.image.width}x${spec.image.height}x${spec.image.channels}`
    : [...shapes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const wrongShape = decoded.flatMap((d) =>
    d.shape === undefined || d.shape === expected
      ? []
      : [{ file: d.file.path, message: `is ${d.shape} (width×height×channels), expected ${expected}` }],
  );
  rules.push({
    rule: "image-spec",
    ok: wrongShape.length === 0,
    detail: `expected ${expected ?? "nothing decoded"}${spec.image ? " (declared)" : " (most common)"}`,
    violations: wrongShape,
  });

  const declared = new Set(classes);
  const unknown = files
    .filter((f) => !declared.has(f.label))
    .map((f) => ({ file: f.path, message: `label ${JSON.stringify(f.label)} is not a declared class` }));
  rules.push({
    rule: "labels",
    ok: unknown.length === 0,
    detail: `classes: ${classes.join(", ")}`,
    violations: unknown,
  });

  const counts: Record<string, Partial<Record<Split, number>>> = {};
  const totals = new Map<string, number>(classes.map((c) => [c, 0]));
  for (const f of files) {
    const c = (counts[f.label] ??= {});
    c[f.split] = (c[f.split] ?? 0) + 1;
    totals.set(f.label, (totals.get(f.label) ?? 0) + 1);
  }
  const { minPerClass, maxImbalance } = spec.validation;
  const scarce = [...totals]
    .filter(([c, n]) => declared.has(c) && n < minPerClass)
    .map(([c, n]) => ({ message: `class ${c} has ${n} images, fewer than ${minPerClass}` }));
  rules.push({
    rule: "min-per-class",
    ok: scarce.length === 0,
    detail: `at least ${minPerClass} images per class`,
    violations: scarce,
  });

  const present = [...totals].filter(([c]) => declared.has(c)).map(([, n]) => n);
  const ratio = present.length > 0 && Math.min(...present) > 0 ? Math.max(...present) / Math.min(...present) : Infinity;
  rules.push({
    rule: "class-imbalance",
    ok: ratio <= maxImbalance,
    detail: `largest/smallest class = ${Number.isFinite(ratio) ? ratio.toFixed(2) : "∞"}, at most ${maxImbalance}`,
    violations:
      ratio <= maxImbalance
        ? []
        : [{ message: `class imbalance ${Number.isFinite(ratio) ? ratio.toFixed(2) : "∞"} exceeds ${maxImbalance}` }],
  });

  const bySha = new Map<string, ValidationFile[]>();
  for (const f of files) bySha.set(f.sha256, [...(bySha.get(f.sha256) ?? []), f]);
  const leaks = [...bySha.values()]
    .filter((same) => new Set(same.map((f) => f.split)).size > 1)
    .flatMap((same) =>
      same.map((f) => ({
        file: f.path,
        message: `same bytes as ${same
          .filter((o) => o !== f)
          .map((o) => `${o.path} (${o.split})`)
          .join(", ")}`,
      })),
    );
  rules.push({
    rule: "split-leakage",
    ok: leaks.length === 0,
    detail: "no identical image in two splits",
    violations: leaks,
  });

  return { ok: rules.every((r) => r.ok), files: files.length, classes, counts, rules };
}
