import type { DatasetLineage, DatasetRef, ModelLineage, PredictionLineage } from "../core/lineage/queries.ts";
import type { VerifyResult } from "../core/lineage/verify.ts";
import type { Metrics, RunNode } from "../core/lineage/nodes.ts";
import type { Tree } from "./tree.ts";

const leaf = (label: string): Tree => ({ label });
const metrics = (m: Metrics): string =>
  Object.entries(m)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${Number(v.toFixed(4))}`)
    .join(", ") || "(none)";

function datasetTree(d: DatasetRef): Tree {
  const r = d.record;
  return {
    label: `dataset ${d.datasetId}`,
    children: [
      leaf(`manifest ${d.manifestDigest ?? "(unknown: dataset.versioned not seen)"}`),
      ...(r
        ? [
            leaf(
              `${r.name ?? "(unnamed)"}: ${r.files} files, classes ${r.classes.join(", ")}, validation ${r.validation}`,
            ),
            leaf(`source ${r.source}`),
          ]
        : []),
    ],
  };
}

function runTree(run: RunNode): Tree {
  return {
    label: `run ${run.runId} (${run.status}, ${run.time})`,
    children: [
      leaf(`config hash ${run.configHash ?? "-"}`),
      leaf(`git commit ${run.gitCommit ?? "-"}`),
      leaf(`image ${run.image ?? "-"}`),
      leaf(`metrics ${metrics(run.metrics)}`),
      ...(run.reason ? [leaf(`failed: ${run.reason}`)] : []),
    ],
  };
}

export function modelTree(l: ModelLineage): Tree {
  const m = l.model;
  const predictions = l.windows.reduce((n, w) => n + w.count, 0);
  return {
    label: `model ${m.name}:${m.version}`,
    children: [
      leaf(`model file ${m.modelDigest}`),
      leaf(`model card ${m.cardDigest}`),
      datasetTree(l.dataset),
      l.request
        ? leaf(
            `request ${l.request.requestId} (trigger ${l.request.trigger}${l.request.reason ? `: ${l.request.reason}` : ""}, config ${l.request.configDigest ?? "-"}, ${l.request.time})`,
          )
        : leaf(`request ${m.requestId} (training.requested not seen)`),
      l.run ? runTree(l.run) : leaf(`run ${m.runId}`),
      ...(m.parentVersion !== undefined ? [leaf(`fine-tuned from ${m.name}:${m.parentVersion}`)] : []),
      {
        label: `alias moves: ${l.aliasMoves.length}`,
        children: l.aliasMoves.map((a) =>
          leaf(
            `${a.time} ${a.action} ${m.name}@${a.alias} ${a.from ?? "∅"} → ${a.to} by ${a.actor}${a.reason ? `: ${a.reason}` : ""}`,
          ),
        ),
      },
      {
        label: `drift reports: ${l.driftReports.length}`,
        children: l.driftReports.map((d) =>
          leaf(
            `${d.time} ${d.reportId}: ${d.drift ? "DRIFT" : "no drift"}, severity ${d.severity}${d.driftedFeatures.length ? `, features ${d.driftedFeatures.join(", ")}` : ""} (report ${d.reportDigest})`,
          ),
        ),
      },
      leaf(`prediction windows: ${l.windows.length} (${predictions} predictions logged)`),
    ],
  };
}

export function predictionTree(p: PredictionLineage): Tree {
  return {
    label: `prediction ${p.prediction.requestId} (${p.prediction.time}: ${p.prediction.label}, confidence ${p.prediction.confidence})`,
    children: [modelTree(p.lineage)],
  };
}

export function datasetLineageTree(d: DatasetLineage): Tree {
  const base = datasetTree(d.dataset);
  return {
    label: base.label,
    children: [
      ...(base.children ?? []),
      {
        label: `training requests: ${d.requests.length}`,
        children: d.requests.map((r) => leaf(`${r.requestId} for ${r.model} (trigger ${r.trigger}, ${r.time})`)),
      },
      {
        label: `runs: ${d.runs.length}`,
        children: d.runs.map((r) =>
          leaf(`${r.runId} ${r.status}${r.version === null ? "" : ` → ${r.model}:${r.version}`} (${r.time})`),
        ),
      },
      {
        label: `model versions: ${d.models.length}`,
        children: d.models.map((m) => leaf(`${m.name}:${m.version} (${m.modelDigest}, ${metrics(m.metrics)})`)),
      },
    ],
  };
}

/** One line per check; failures say what was expected, what was found and which blob or file. */
export function verifyLines(r: VerifyResult): string[] {
  const lines = [`${r.ok ? "verified" : "VERIFY FAILED"}: model ${r.model}, dataset ${r.datasetId}`];
  for (const c of r.checks) {
    lines.push(`  ${c.ok ? "ok  " : "FAIL"} ${c.check.padEnd(20)} ${c.subject}`);
    if (!c.ok) {
      lines.push(`         expected ${c.expected}`);
      lines.push(`         actual   ${c.actual}`);
      if (c.detail) lines.push(`         ${c.detail}`);
    }
  }
  return lines;
}
