import type { Command } from "commander";
import type { BlobStore } from "../../core/blobs/blob-store.ts";
import { PERTURBATIONS } from "../../core/imaging/perturb.ts";
import { listAliases, resolveAlias } from "../../core/registry/aliases.ts";
import { parseModelCard } from "../../core/registry/model-card.ts";
import { getVersion, listVersions, parseModelRef, type ModelVersion } from "../../core/registry/model-version.ts";
import { modelDetail, modelSummaries } from "../../core/registry/queries.ts";
import { provenanceLine, versionProvenance } from "../../core/registry/provenance.ts";
import type { Robustness } from "../../core/registry/robustness.ts";
import { withRuntime, type CliContext } from "../context.ts";
import { CliExit, EXIT } from "../exit-codes.ts";

export function registerModels(program: Command, ctx: CliContext): void {
  const models = program.command("models").description("the model registry: versions, aliases, audit trail");

  models
    .command("list")
    .description("every model with its latest version and aliases")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) =>
      withRuntime(ctx, async (rt) => {
        const rows = await modelSummaries(rt.meta);
        if (opts.json) return ctx.out(JSON.stringify(rows, null, 2));
        if (rows.length === 0) return ctx.out("no models registered yet");
        for (const r of rows) {
          const aliases = Object.entries(r.aliases)
            .map(([a, v]) => `${a}=${v}`)
            .join(" ");
          ctx.out(`${r.name.padEnd(20)} latest ${String(r.latestVersion).padEnd(4)} ${aliases}`);
        }
      }),
    );

  models
    .command("show")
    .description(
      "a model (its versions and audit trail) or one version (NAME@ALIAS, NAME:VERSION, or NAME with --request / --run)",
    )
    .argument("<ref>", "NAME, NAME@ALIAS or NAME:VERSION")
    .option("--request <id>", "the version registered by this training request (e.g. the CD workflow's own Job)")
    .option("--run <id>", "the version registered by this training run")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nWith --request or --run, exits 1 naming the request or run when it registered no version of the model.",
    )
    .action(async (text: string, opts: { json?: boolean; request?: string; run?: string }) =>
      withRuntime(ctx, async (rt) => {
        const ref = parseModelRef(text);
        const selector = trainedBy(opts);
        if (selector && (ref.version !== undefined || ref.alias !== undefined))
          ctx.fail(
            `--${selector.field === "requestId" ? "request" : "run"} selects a version of a model: give NAME, not ${text}`,
            EXIT.usage,
          );
        if (selector) {
          const found = (await listVersions(rt.meta, ref.name)).filter((v) => v[selector.field] === selector.value);
          const chosen = found.at(-1);
          if (!chosen)
            ctx.fail(
              `${selector.label} registered no version of ${ref.name} (see \`sightline models show ${ref.name}\`)`,
            );
          // A Job retried after its first pod registered can register twice: the newest is the one that finished.
          if (found.length > 1)
            ctx.log.warn("several versions registered by one training", {
              model: ref.name,
              selector: selector.label,
              versions: found.map((v) => v.version),
              chosen: chosen.version,
            });
          ref.version = chosen.version;
        }
        if (ref.version === undefined && ref.alias === undefined) {
          const { versions, aliases, audit } = await modelDetail(rt.meta, ref.name);
          if (versions.length === 0) ctx.fail(`model ${ref.name} is not registered (see \`sightline models list\`)`);
          if (opts.json) return ctx.out(JSON.stringify({ name: ref.name, versions, aliases, audit }, null, 2));
          ctx.out(`${ref.name}: ${versions.length} version(s)`);
          for (const v of versions) {
            const tags = aliases
              .filter((a) => a.version === v.version)
              .map((a) => a.alias)
              .join(", ");
            ctx.out(
              `  v${String(v.version).padEnd(4)} ${v.createdAt}  ${metricLine(v)}  dataset ${v.datasetId.slice(0, 12)}…${tags ? `  [${tags}]` : ""}`,
            );
          }
          ctx.out("audit:");
          for (const a of audit.slice(-20)) {
            ctx.out(
              `  ${a.time}  ${a.action.padEnd(10)} ${a.outcome.padEnd(16)} ${a.alias ?? ""} ${a.from ?? "—"} → ${a.to ?? "—"}  by ${a.actor}: ${a.reason}`,
            );
          }
          return;
        }
        const aliases = await listAliases(rt.meta, ref.name);
        const version = ref.version ?? (await resolveAlias(rt.meta, ref.name, ref.alias as string));
        const v = await getVersion(rt.meta, ref.name, version);
        const tags = aliases.filter((a) => a.version === version).map((a) => a.alias);
        const robustness = await cardRobustness(rt.blobs, v);
        if (opts.json)
          return ctx.out(
            JSON.stringify(
              { ...v, aliases: tags, ...(robustness.value ? { robustness: robustness.value } : {}) },
              null,
              2,
            ),
          );
        ctx.out(`${v.name}:${v.version}${tags.length ? `  [${tags.join(", ")}]` : ""}`);
        for (const [k, value] of [
          ["created", v.createdAt],
          ["dataset", v.datasetId],
          ["request", v.requestId],
          ["run", v.runId],
          ["model", v.modelDigest],
          ["card", v.cardDigest],
          ["profile", v.profileDigest ?? "—"],
          ["config", v.configHash],
          ["commit", v.gitCommit ?? "—"],
          ["image", v.image ?? "—"],
        ] as const) {
          ctx.out(`  ${k.padEnd(9)} ${value}`);
        }
        ctx.out(`  metrics   ${metricLine(v)}`);
        ctx.out(`  why       ${provenanceLine(await versionProvenance(rt.meta, v.name, v.version))}`);
        if (robustness.unreadable) ctx.out(`  robustness unknown: ${robustness.unreadable}`);
        if (robustness.value) for (const line of robustnessLines(robustness.value)) ctx.out(`  ${line}`);
      }),
    );
}

/** What --request / --run select on, if either was given (not both). */
function trainedBy(opts: {
  request?: string;
  run?: string;
}): { field: "requestId" | "runId"; value: string; label: string } | undefined {
  if (opts.request !== undefined && opts.run !== undefined)
    throw new CliExit("give --request or --run, not both", EXIT.usage);
  if (opts.request !== undefined)
    return { field: "requestId", value: opts.request, label: `training request ${opts.request}` };
  if (opts.run !== undefined) return { field: "runId", value: opts.run, label: `training run ${opts.run}` };
  return undefined;
}

/** The card's robustness section; a card that cannot be read only costs that section, not the command. */
async function cardRobustness(blobs: BlobStore, v: ModelVersion): Promise<{ value?: Robustness; unreadable?: string }> {
  try {
    const card = parseModelCard(await blobs.get(v.cardDigest), `${v.name}:${v.version}`);
    return card.robustness ? { value: card.robustness } : {};
  } catch (err) {
    return { unreadable: `card ${v.cardDigest} cannot be read: ${(err as Error).message}` };
  }
}

/** One line per perturbation: accuracy and the drop from clean accuracy (a gain shows as a negative drop). */
export function robustnessLines(r: Robustness): string[] {
  const width = Math.max(...PERTURBATIONS.map((p) => p.length));
  return [
    `robustness on ${r.images} test image${r.images === 1 ? "" : "s"} (clean accuracy ${r.clean.toFixed(4)}):`,
    ...PERTURBATIONS.map(
      (p) =>
        `  ${p.padEnd(width)}  accuracy ${r.perturbations[p].accuracy.toFixed(4)}  drop ${signed(r.perturbations[p].drop)}`,
    ),
  ];
}

const signed = (n: number): string => (n < 0 ? `−${(-n).toFixed(4)}` : ` ${n.toFixed(4)}`);

function metricLine(v: ModelVersion): string {
  return ["accuracy", "macro_f1"].map((m) => `${m} ${v.metrics[m]?.toFixed(4) ?? "—"}`).join("  ");
}
