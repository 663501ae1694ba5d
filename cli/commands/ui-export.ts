import type { Command } from "commander";
import { exportConsole } from "../../console/server/export.ts";
import type { Runtime } from "../../core/config/runtime.ts";
import { catchUpLineage } from "../../core/lineage/emit.ts";
import { withRuntime, type CliContext } from "../context.ts";

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Writes the console's snapshot of `rt`'s stores (`sightline ui export`, and the demo's report) and says where. */
export async function writeConsoleSnapshot(
  rt: Runtime,
  ctx: CliContext,
  opts: { out: string; lineage: string[]; label?: string },
): Promise<string> {
  const result = await exportConsole(
    { meta: rt.meta, blobs: rt.blobs, log: rt.log },
    {
      out: opts.out,
      source: rt.config.home,
      lineage: opts.lineage,
      say: (line) => process.stderr.write(`${line}\n`),
    },
  );
  ctx.out(
    `${opts.label ?? "Console snapshot"}: ${result.path} (${result.answers} API answers, ${Math.round(result.bytes / 1024)} KiB, ${result.ms.total} ms)`,
  );
  ctx.out(`  open it in a browser: file://${result.path}`);
  return result.path;
}

/** `sightline ui export`: the console's pages over the configured stores as one HTML file that needs no server. */
export function registerUiExport(ui: Command, ctx: CliContext): void {
  ui.command("export")
    .description(
      "write the console (models, drift, lineage, runs, datasets, jobs) as one self-contained HTML file that opens from file:// with no server; read-only",
    )
    .option("--out <path>", "a file (….html) or a directory (gets index.html)", "sightline-console.html")
    .option(
      "--lineage <id>",
      "also export the lineage of this id (a prediction's request id, a run or dataset id); repeatable",
      collect,
      [],
    )
    .action(async (opts: { out: string; lineage: string[] }) =>
      withRuntime(ctx, async (rt) => {
        // On the embedded default the CLI records lineage (as `sightline ui` does before it serves).
        await catchUpLineage(rt, ctx.env);
        await writeConsoleSnapshot(rt, ctx, opts);
      }),
    );
}
