import type { MetadataStore } from "../meta/metadata-store.ts";
import { Runs, storable, type RunRecord } from "./run-record.ts";
import { RunSummaries, summaryOf } from "./run-summary.ts";

/** How a trainer's process ended, as its job runner saw it. */
export interface ProcessEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Settles the runs of one training request that are still `running` after the trainer's process has ended: the
 * trainer records its own success or failure before it exits, so a run still running was cut off. A signal makes it
 * `killed`, any other end `failed`, with how the process ended as the reason. Each run is settled in a transaction
 * that re-reads it, so an outcome the trainer recorded meanwhile is never overwritten. Returns the run ids settled.
 */
export async function settleUnfinishedRuns(meta: MetadataStore, requestId: string, end: ProcessEnd): Promise<string[]> {
  const docs = await Runs.query(meta, { where: [{ field: "requestId", op: "==", value: requestId }] });
  const settled: string[] = [];
  for (const { data } of docs) {
    if (data.status !== "running") continue;
    const done = await meta.transaction(async (tx) => {
      const current = await Runs.in(tx).get(data.runId);
      if (current?.status !== "running") return false;
      const record = storable(endedRun(current, end));
      Runs.in(tx).set(record.runId, record);
      RunSummaries.in(tx).set(record.runId, summaryOf(record));
      return true;
    });
    if (done) settled.push(data.runId);
  }
  return settled;
}

function endedRun(run: RunRecord, end: ProcessEnd): RunRecord {
  const ended: RunRecord = {
    ...run,
    status: end.signal ? "killed" : "failed",
    finishedAt: new Date().toISOString(),
    reason: end.signal
      ? `the trainer's process was killed by ${end.signal} before it finished the run`
      : `the trainer's process exited with code ${end.code ?? "unknown"} before it finished the run`,
  };
  // Where it was is no longer where it is.
  delete ended.progress;
  return ended;
}
