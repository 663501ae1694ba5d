import { InvalidArgumentError, type Command } from "commander";
import type { ParamValue } from "../../core/jobs/run-record.ts";
import {
  compareRuns,
  DEFAULT_RUNS_LIMIT,
  getRun,
  listRuns,
  type ComparedKey,
  type RunDetail,
  type RunSummary,
} from "../../core/runs/queries.ts";
import { withRuntime, type CliContext } from "../context.ts";

/** Metrics a table shows when a run has them, in this order: held-out first (the platform's), then the stream's last. */
const TABLE_METRICS = ["test_accuracy", "test_macro_f1", "val_accuracy", "accuracy"];

export function registerRuns(program: Command, ctx: CliContext): void {
  const runs = program
    .command("runs")
    .description("training runs (experiment tracking): params, tags, metric streams, outcomes");
  registerList(runs, ctx);
  registerShow(runs, ctx);
  registerCompare(runs, ctx);
}

function registerList(runs: Command, ctx: CliContext): void {
  runs
    .command("list")
    .description("runs newest first, optionally filtered")
    .option("--model <name>", "only this model's runs")
    .option(
      "--filter <expr>",
      'e.g. \'metrics.test_accuracy > 0.9 and params.epochs = 3 and tags.trigger = "cli" and status = "succeeded"\'',
    )
    .option("--limit <n>", `rows per page (default ${DEFAULT_RUNS_LIMIT})`, positiveInt)
    .option(
      "--sort <order>",
      "e.g. 'metrics.test_accuracy desc' (default: newest first); runs without the key come last",
    )
    .option("--cursor <cursor>", "the next page, as printed after the previous one")
    .option("--json", "print JSON ({ runs, nextCursor })")
    .addHelpText(
      "after",
      [
        "",
        "Filter: comparisons joined by `and`; fields metrics.KEY, params.KEY, tags.KEY, status, model, dataset, trainer, request;",
        'operators = != < <= > >=; values are numbers or "quoted strings"; keys with other characters in `backticks`.',
        "A run's metrics are the last value of each key of its stream, and test_KEY for its registered version's held-out metrics.",
      ].join("\n"),
    )
    .action(
      async (opts: {
        model?: string;
        filter?: string;
        sort?: string;
        limit?: number;
        cursor?: string;
        json?: boolean;
      }) =>
        withRuntime(ctx, async (rt) => {
          const page = await listRuns(rt.meta, {
            ...(opts.model ? { model: opts.model } : {}),
            ...(opts.filter !== undefined ? { filter: opts.filter } : {}),
            ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
            ...(opts.cursor !== undefined ? { cursor: opts.cursor } : {}),
            ...(opts.sort !== undefined ? { orderBy: opts.sort } : {}),
          });
          if (opts.json) return ctx.out(JSON.stringify(page, null, 2));
          if (page.runs.length === 0)
            return ctx.out(opts.filter || opts.cursor ? "no runs match" : "no runs recorded yet");
          const metricKeys = TABLE_METRICS.filter((k) => page.runs.some((r) => r.metrics[k] !== undefined)).slice(0, 2);
          table(
            ctx,
            ["RUN", "MODEL", "TRAINER", "STATUS", "STARTED", "SECONDS", "VERSION", ...metricKeys],
            page.runs.map((r) => row(r, metricKeys)),
          );
          if (page.nextCursor) ctx.out(`more: --cursor ${page.nextCursor}`);
        }),
    );
}

function registerShow(runs: Command, ctx: CliContext): void {
  runs
    .command("show")
    .description("one run: params, tags, phases, artefacts, final metrics and its metric stream")
    .argument("<run>", "a run id")
    .option("--json", "print JSON")
    .action(async (runId: string, opts: { json?: boolean }) =>
      withRuntime(ctx, async (rt) => {
        const run = await getRun(rt.meta, runId);
        if (opts.json) return ctx.out(JSON.stringify(run, null, 2));
        ctx.out(
          `${run.runId}  ${run.status}${run.version !== undefined ? `  registered ${run.model}:${run.version}` : ""}`,
        );
        const fields: [string, string][] = [
          ["model", run.model],
          ["dataset", run.datasetId],
          ["request", run.requestId],
          [
            "trainer",
            run.trainer.kind === "builtin"
              ? "builtin"
              : `${run.trainer.name ?? run.trainer.kind} (${run.trainer.kind})`,
          ],
          ["started", run.startedAt],
          ["finished", run.finishedAt ?? "—"],
          // A lost run is one not heard from for long: when it last was says how long.
          ...(run.status === "running" || run.status === "lost"
            ? ([["heard", run.updatedAt ?? "—"]] as [string, string][])
            : []),
          ...(run.status === "running" && run.progress
            ? ([["progress", progressText(run.progress)]] as [string, string][])
            : []),
          ["seconds", run.seconds?.toFixed(1) ?? "—"],
          ["images/s", run.imagesPerSecond?.toFixed(1) ?? "—"],
          ...(run.parentVersion !== undefined
            ? ([["fine-tuned from", `${run.model}:${run.parentVersion}`]] as [string, string][])
            : []),
          ...(run.reason ? ([["reason", run.reason]] as [string, string][]) : []),
          ...(run.log ? ([["log", run.log]] as [string, string][]) : []),
        ];
        for (const [k, v] of fields) ctx.out(`  ${k.padEnd(9)} ${v}`);
        section(
          ctx,
          "params",
          Object.entries(run.params ?? {}).map(([k, v]) => [k, show(v)]),
        );
        section(ctx, "tags", Object.entries(run.tags ?? {}));
        section(
          ctx,
          "phases (s)",
          Object.entries(run.phases ?? {}).map(([k, v]) => [k, v.toFixed(2)]),
        );
        section(
          ctx,
          "artefacts",
          (run.artefacts ?? []).map((a) => [a.kind, `${a.digest}${a.pointer ? ` ${a.pointer}` : ""}`]),
        );
        section(
          ctx,
          "final metrics",
          Object.entries(run.final).map(([k, v]) => [k, fmt(v)]),
        );
        if (run.metrics.length > 0) {
          const keys = [...new Set(run.metrics.flatMap((m) => Object.keys(m)))];
          const shown = run.metrics.slice(-20);
          ctx.out(
            `metric stream (${run.metrics.length} line${run.metrics.length === 1 ? "" : "s"}${shown.length < run.metrics.length ? `, last ${shown.length}` : ""}):`,
          );
          table(
            ctx,
            keys,
            shown.map((m) =>
              keys.map((k) =>
                m[k] === undefined ? "—" : k === "timestamp" ? new Date(m[k]).toISOString() : fmt(m[k]),
              ),
            ),
            "  ",
          );
        }
      }),
    );
}

function registerCompare(runs: Command, ctx: CliContext): void {
  runs
    .command("compare")
    .description("two or more runs: the params that differ, and final metrics side by side")
    .argument("<runs...>", "run ids")
    .option("--json", "print JSON")
    .action(async (runIds: string[], opts: { json?: boolean }) =>
      withRuntime(ctx, async (rt) => {
        const c = await compareRuns(rt.meta, runIds);
        if (opts.json) return ctx.out(JSON.stringify(c, null, 2));
        const ids = c.runs.map((r) => r.runId);
        const grid = <V>(title: string, keys: ComparedKey<V>[], render: (v: V) => string) => {
          ctx.out(`${title}:`);
          if (keys.length === 0) return ctx.out("  (none differ)");
          table(
            ctx,
            ["", ...ids],
            keys.map((k) => [
              k.key,
              ...ids.map((id) => (k.values[id] === null || k.values[id] === undefined ? "—" : render(k.values[id]))),
            ]),
            "  ",
          );
        };
        table(
          ctx,
          ["", ...ids],
          [
            ["model", ...c.runs.map((r) => r.model)],
            ["status", ...c.runs.map((r) => r.status)],
            ["version", ...c.runs.map((r) => (r.version === undefined ? "—" : String(r.version)))],
          ],
        );
        grid("params that differ", c.params, show);
        grid("tags that differ", c.tags, (v) => v);
        grid("final metrics", c.metrics, fmt);
      }),
    );
}

function progressText(p: NonNullable<RunDetail["progress"]>): string {
  return `epoch ${p.epoch}/${p.epochs}, batch ${p.batch}/${p.batches}${p.etaSeconds !== undefined ? `, about ${Math.round(p.etaSeconds)} s left` : ""}`;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("a whole number of at least 1");
  return n;
}

function row(r: RunSummary, metricKeys: string[]): string[] {
  return [
    r.runId,
    r.model,
    r.trainer,
    r.status,
    r.startedAt.replace(/\.\d+Z$/, "Z"),
    r.seconds?.toFixed(1) ?? "—",
    r.version === undefined ? "—" : String(r.version),
    ...metricKeys.map((k) => (r.metrics[k] === undefined ? "—" : fmt(r.metrics[k]))),
  ];
}

function table(ctx: CliContext, head: string[], rows: string[][], indent = ""): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `${indent}${cells.map((c, i) => c.padEnd(widths[i]!)).join("  ")}`.trimEnd();
  ctx.out(line(head));
  for (const r of rows) ctx.out(line(r));
}

function section(ctx: CliContext, title: string, entries: [string, string][]): void {
  if (entries.length === 0) return;
  ctx.out(`${title}:`);
  const width = Math.max(...entries.map(([k]) => k.length));
  for (const [k, v] of entries) ctx.out(`  ${k.padEnd(width)}  ${v}`);
}

const fmt = (n: number): string =>
  Number.isInteger(n) ? String(n) : Math.abs(n) >= 1000 ? n.toFixed(1) : n.toFixed(4);
const show = (v: ParamValue): string => (typeof v === "string" ? v : JSON.stringify(v));
