import { Option, type Command } from "commander";
import type { Runtime } from "../../core/config/runtime.ts";
import { isDatasetId } from "../../core/ids.ts";
import { ConfigError } from "../../core/config/config.ts";
import { loadOpenLineageSettings } from "../../core/config/openlineage.ts";
import { catchUpLineage, namingFrom } from "../../core/lineage/emit.ts";
import { exportRunEvents, OpenLineageExportError } from "../../core/lineage/export.ts";
import { runEventsFor, type RunEvent } from "../../core/lineage/openlineage.ts";
import { datasetLineage, LineageNotFoundError, modelLineage, predictionLineage } from "../../core/lineage/queries.ts";
import { OpenLineageHttpTransport } from "../../core/lineage/transport.ts";
import { verifyModelLineage, VerifyTargetNotFoundError } from "../../core/lineage/verify.ts";
import { resolveAlias } from "../../core/registry/aliases.ts";
import { ModelNotFoundError, parseModelRef } from "../../core/registry/model-version.ts";
import { withRuntime, type CliContext } from "../context.ts";
import { EXIT } from "../exit-codes.ts";
import { datasetLineageTree, modelTree, predictionTree, verifyLines } from "../lineage-view.ts";
import { renderTree, type Tree } from "../tree.ts";

type Format = "text" | "json" | "openlineage";
type ViewOptions = { json?: boolean; format: Format; export?: boolean };

/** Records what waits on the `lineage` subscription, so the answer includes every event published so far. */
async function bringUpToDate(ctx: CliContext, rt: Runtime): Promise<void> {
  await catchUpLineage(rt, ctx.env);
}

/** `NAME:VERSION` or `NAME@ALIAS` → name and version. */
async function resolveRef(ctx: CliContext, rt: Runtime, text: string): Promise<{ name: string; version: number }> {
  let ref: ReturnType<typeof parseModelRef>;
  try {
    ref = parseModelRef(text);
  } catch (err) {
    return ctx.fail((err as Error).message);
  }
  if (ref.version !== undefined) return { name: ref.name, version: ref.version };
  if (ref.alias !== undefined) return { name: ref.name, version: await resolveAlias(rt.meta, ref.name, ref.alias) };
  return ctx.fail(`${text}: give a version (NAME:VERSION) or an alias (NAME@ALIAS)`);
}

/** Not-found errors end the command with their message and exit 1; anything else propagates. */
async function orFail<R>(ctx: CliContext, fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (err) {
    const known = [
      LineageNotFoundError,
      VerifyTargetNotFoundError,
      ModelNotFoundError,
      OpenLineageExportError,
      ConfigError,
    ];
    if (known.some((k) => err instanceof k)) {
      return ctx.fail((err as Error).message);
    }
    throw err;
  }
}

/** Prints a query's answer in the chosen format; `--format openlineage` prints (or exports) the runs' RunEvents. */
async function show(
  ctx: CliContext,
  rt: Runtime,
  opts: ViewOptions,
  answer: { json: unknown; tree: Tree; requestIds: string[] },
): Promise<void> {
  const format: Format = opts.json ? "json" : opts.format;
  if (opts.export && format !== "openlineage") ctx.fail("--export needs --format openlineage", EXIT.usage);
  if (format === "json") return ctx.out(JSON.stringify(answer.json, null, 2));
  if (format === "text") return renderTree(answer.tree).forEach((line) => ctx.out(line));
  const settings = loadOpenLineageSettings(ctx.env);
  const events: RunEvent[] = await runEventsFor(rt.meta, answer.requestIds, namingFrom(rt.config, settings));
  if (!opts.export) return ctx.out(JSON.stringify(events, null, 2));
  if (!settings.url)
    return ctx.fail(
      "--export needs SIGHTLINE_OPENLINEAGE_URL (the OpenLineage server's base URL, e.g. Marquez at http://localhost:5000)",
    );
  const transport = new OpenLineageHttpTransport({ ...settings, url: settings.url });
  const sent = await exportRunEvents(transport, events);
  ctx.out(`exported ${sent} RunEvents to ${transport.endpoint}`);
}

function viewOptions(cmd: Command): Command {
  return cmd
    .option("--json", "print the lineage as JSON (same as --format json)")
    .addOption(
      new Option("--format <format>", "output format").choices(["text", "json", "openlineage"]).default("text"),
    )
    .option("--export", "with --format openlineage: POST the RunEvents to $SIGHTLINE_OPENLINEAGE_URL/api/v1/lineage");
}

export function registerLineage(program: Command, ctx: CliContext): void {
  const lineage = program
    .command("lineage")
    .description("trace models, predictions and datasets through the lineage graph");

  viewOptions(
    lineage
      .command("model")
      .description("a model version's dataset, run, config, commit, image, metrics, promotions and drift reports"),
  )
    .argument("<model>", "NAME:VERSION or NAME@ALIAS")
    .action(async (text: string, opts: ViewOptions) =>
      withRuntime(ctx, async (rt) =>
        orFail(ctx, async () => {
          const { name, version } = await resolveRef(ctx, rt, text);
          await bringUpToDate(ctx, rt);
          const l = await modelLineage(rt.meta, name, version);
          await show(ctx, rt, opts, { json: l, tree: modelTree(l), requestIds: [l.model.requestId] });
        }),
      ),
    );

  viewOptions(lineage.command("prediction").description("a prediction request id → model version → run → dataset"))
    .argument("<request-id>", "the x-request-id of a served prediction")
    .action(async (requestId: string, opts: ViewOptions) =>
      withRuntime(ctx, async (rt) =>
        orFail(ctx, async () => {
          await bringUpToDate(ctx, rt);
          const p = await predictionLineage(rt.meta, requestId);
          await show(ctx, rt, opts, { json: p, tree: predictionTree(p), requestIds: [p.lineage.model.requestId] });
        }),
      ),
    );

  viewOptions(lineage.command("dataset").description("every training run and model version trained on a dataset"))
    .argument("<id>", "64-hex dataset id")
    .action(async (id: string, opts: ViewOptions) =>
      withRuntime(ctx, async (rt) =>
        orFail(ctx, async () => {
          if (!isDatasetId(id)) ctx.fail(`${id} is not a dataset id (64 hex characters)`);
          await bringUpToDate(ctx, rt);
          const d = await datasetLineage(rt.meta, id);
          const requestIds = [...d.requests.map((r) => r.requestId), ...d.runs.map((r) => r.requestId)];
          await show(ctx, rt, opts, { json: d, tree: datasetLineageTree(d), requestIds });
        }),
      ),
    );

  lineage
    .command("verify")
    .description(
      "recompute a model version's dataset id and file digests from the stored blobs; exit 1 on any mismatch",
    )
    .argument("<model>", "NAME:VERSION or NAME@ALIAS")
    .option("--json", "print the checks as JSON")
    .action(async (text: string, opts: { json?: boolean }) =>
      withRuntime(ctx, async (rt) =>
        orFail(ctx, async () => {
          const { name, version } = await resolveRef(ctx, rt, text);
          await bringUpToDate(ctx, rt);
          const result = await verifyModelLineage(rt, name, version);
          if (opts.json) ctx.out(JSON.stringify(result, null, 2));
          else verifyLines(result).forEach((line) => ctx.out(line));
          if (!result.ok) {
            const failed = result.checks.filter((c) => !c.ok).map((c) => `${c.check} ${c.subject}`);
            ctx.fail(`lineage of ${result.model} does not match the stored data: ${failed.join("; ")}`);
          }
        }),
      ),
    );
}
