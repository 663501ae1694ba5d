import { SightlineError } from "../../core/errors.ts";
import { runConfusion } from "../../core/runs/artefacts.ts";
import { compareRuns, getRun, listRuns } from "../../core/runs/queries.ts";
import { RunComparison, RunDetail, RunsPage } from "../api/schemas.ts";
import type { ReadDeps } from "./read-model.ts";

/** The most runs one compare view draws side by side. */
export const MAX_COMPARED = 10;

/** The runs table: core's listRuns (the one `sightline runs list` prints), one page of it. */
export async function runsPage(
  deps: ReadDeps,
  query: Partial<Record<"model" | "filter" | "sort" | "limit" | "cursor", string | undefined>>,
): Promise<RunsPage> {
  const limit = query.limit === undefined ? undefined : Number(query.limit);
  const page = await listRuns(deps.meta, {
    ...(query.model ? { model: query.model } : {}),
    ...(query.filter?.trim() ? { filter: query.filter } : {}),
    ...(query.sort?.trim() ? { orderBy: query.sort } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(query.cursor ? { cursor: query.cursor } : {}),
  });
  return RunsPage.parse(page);
}

export async function runPage(deps: ReadDeps, runId: string): Promise<RunDetail> {
  const run = await getRun(deps.meta, runId);
  const confusion = (await runConfusion(deps.blobs, run)) ?? null;
  const { metrics, final, phases, artefacts, ...rest } = run;
  return RunDetail.parse({
    run: {
      ...rest,
      trainer: run.trainer.kind === "builtin" ? "builtin" : (run.trainer.name ?? run.trainer.kind),
      params: run.params ?? {},
      tags: run.tags ?? {},
      metrics: final,
      stream: metrics,
      phases: phases ?? {},
      artefacts: artefacts ?? [],
    },
    confusion,
  });
}

export async function runComparison(deps: ReadDeps, ids: string[]): Promise<RunComparison> {
  if (ids.length > MAX_COMPARED)
    throw new SightlineError("invalid", "compare_too_many", `compare at most ${MAX_COMPARED} runs, not ${ids.length}`);
  const compared = await compareRuns(deps.meta, ids);
  const full = await Promise.all(ids.map((id) => getRun(deps.meta, id)));
  const confusion = await Promise.all(full.map(async (r) => [r.runId, (await runConfusion(deps.blobs, r)) ?? null]));
  return RunComparison.parse({
    ...compared,
    streams: Object.fromEntries(full.map((r) => [r.runId, r.metrics])),
    confusion: Object.fromEntries(confusion),
  });
}
