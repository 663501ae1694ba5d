import type { Command } from "commander";
import { fileURLToPath } from "node:url";
import { DatasetInvalidError, versionDataset, type VersionResult } from "../../core/datasets/version.ts";
import { withRuntime, type CliContext } from "../context.ts";
import { phaseProgress } from "../progress.ts";
import { describeRecord, printReport } from "../report.ts";

export const SAMPLE_DIR = fileURLToPath(new URL("../../data/sample", import.meta.url));

/**
 * The lifecycle on the embedded default, as far as it exists: version and validate the bundled sample.
 * Training, gating, serving, drift and retraining join it as they are built.
 */
export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command("demo")
    .description("run the lifecycle on the bundled Fashion-MNIST sample, on this machine")
    .option("--data <dir>", "dataset folder to use instead of the bundled sample", SAMPLE_DIR)
    .action(async (opts: { data: string }) =>
      withRuntime(ctx, async (rt) => {
        ctx.out(`Sightline demo — state in ${rt.config.home}`);
        ctx.out(`\n[1/1] version and validate the dataset in ${opts.data}`);
        const progress = phaseProgress(ctx.log);
        let result: VersionResult;
        try {
          result = await versionDataset(rt, opts.data, { onProgress: (phase, d, t) => progress.update(phase, d, t) });
        } catch (err) {
          if (err instanceof DatasetInvalidError) printReport(ctx, err.report);
          throw err;
        } finally {
          progress.stop();
        }
        const { record, created, report } = result;
        if (report) printReport(ctx, report);
        ctx.out(`\n${created ? "Registered" : "Reused"} dataset ${record.id}`);
        ctx.out(describeRecord(record));
        ctx.out("\nNext:");
        ctx.out(`  npx sightline data validate ${record.id}`);
        ctx.out("  npx sightline data version <your-folder>   (CLASS/IMAGE or SPLIT/CLASS/IMAGE)");
      }),
    );
}
