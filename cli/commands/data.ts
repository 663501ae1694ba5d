import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { importIdx } from "../../core/datasets/import-idx.ts";
import { loadDataset } from "../../core/datasets/load.ts";
import { validateDataset, type ValidationReport } from "../../core/datasets/validate.ts";
import { buildManifest, DatasetInvalidError, Datasets, versionDataset } from "../../core/datasets/version.ts";
import { isDatasetId } from "../../core/ids.ts";
import { withRuntime, type CliContext } from "../context.ts";
import { phaseProgress } from "../progress.ts";
import { isDirectory, positiveInt } from "../options.ts";
import { describeRecord, printReport } from "../report.ts";

export function registerData(program: Command, ctx: CliContext): void {
  const data = program.command("data").description("import, version and validate datasets");

  data
    .command("import-idx")
    .description("convert an IDX image/label pair (MNIST, Fashion-MNIST; gzip or not) into PNG class folders")
    .requiredOption("--images <file>", "IDX file of images (N×rows×cols unsigned bytes)")
    .requiredOption("--labels <file>", "IDX file of labels")
    .requiredOption("--out <dir>", "output folder; one sub-folder per class")
    .option("--names <list>", "comma-separated class names in label order", (v) => v.split(",").map((s) => s.trim()))
    .option("--limit <n>", "import at most N images", positiveInt)
    .option("--per-class <n>", "import at most N images of each class", positiveInt)
    .action(
      async (opts: {
        images: string;
        labels: string;
        out: string;
        names?: string[];
        limit?: number;
        perClass?: number;
      }) => {
        const progress = phaseProgress(ctx.log);
        const result = await importIdx({ ...opts, onProgress: (d, t) => progress.update("import", d, t) });
        progress.stop();
        ctx.out(`wrote ${result.written} PNG images to ${resolve(opts.out)}`);
        for (const [name, n] of Object.entries(result.perClass).sort()) ctx.out(`  ${name.padEnd(16)} ${n}`);
      },
    );

  data
    .command("version")
    .description("hash, validate and register a dataset folder; prints its id")
    .argument("<dir>", "dataset folder: CLASS/IMAGE or SPLIT/CLASS/IMAGE, optional dataset.yaml")
    .option("--no-validate", "register without validating (the record says validation: skipped)")
    .option("--json", "print the dataset record as JSON")
    .action(async (dir: string, opts: { validate: boolean; json?: boolean }) =>
      withRuntime(ctx, async (rt) => {
        const progress = phaseProgress(ctx.log);
        try {
          const { record, created } = await versionDataset(rt, dir, {
            validate: opts.validate,
            onProgress: (phase, d, t) => progress.update(phase, d, t),
          });
          progress.stop();
          if (opts.json) return ctx.out(JSON.stringify({ ...record, created }, null, 2));
          ctx.out(`${created ? "registered" : "already registered"} dataset ${record.id}`);
          ctx.out(describeRecord(record));
        } catch (err) {
          progress.stop();
          if (!(err instanceof DatasetInvalidError)) throw err;
          if (opts.json) ctx.out(JSON.stringify(err.report, null, 2));
          else printReport(ctx, err.report);
          ctx.fail(`${err.message}; nothing was registered`);
        }
      }),
    );

  data
    .command("validate")
    .description("check a dataset folder or a registered dataset id against its contract")
    .argument("<dir-or-id>", "dataset folder or 64-hex dataset id")
    .option("--json", "print the report as JSON")
    .action(async (target: string, opts: { json?: boolean }) =>
      withRuntime(ctx, async (rt) => {
        const progress = phaseProgress(ctx.log);
        let report: ValidationReport;
        if (await isDirectory(target)) {
          const root = resolve(target);
          const { manifest } = await buildManifest(root, (phase, d, t) => progress.update(phase, d, t));
          report = await validateDataset({
            classes: manifest.classes,
            spec: manifest.spec,
            files: manifest.files,
            read: (f) => readFile(join(root, f.path)),
            onProgress: (d, t) => progress.update("validate", d, t),
          });
        } else {
          if (!isDatasetId(target)) ctx.fail(`${target} is neither a folder nor a dataset id`);
          const { manifest } = await loadDataset(rt, target);
          report = await validateDataset({
            classes: manifest.classes,
            spec: manifest.spec,
            files: manifest.files,
            read: (f) => rt.blobs.get(`sha256:${f.sha256}`),
            onProgress: (d, t) => progress.update("validate", d, t),
          });
          // A registered dataset keeps its latest verdict: the promotion gate requires "passed".
          const reportRef = await rt.blobs.put(Buffer.from(JSON.stringify(report)));
          await rt.meta.transaction(async (tx) => {
            const datasets = Datasets.in(tx);
            const current = await datasets.get(target);
            if (current)
              datasets.set(target, {
                ...current,
                validation: report.ok ? "passed" : "failed",
                validationReportDigest: reportRef.digest,
              });
          });
        }
        progress.stop();
        if (opts.json) ctx.out(JSON.stringify(report, null, 2));
        else printReport(ctx, report);
        if (!report.ok) ctx.fail("validation failed");
      }),
    );
}
