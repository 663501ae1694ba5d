import { z } from "zod";
import { Runs, type RunRecord } from "../jobs/run-record.ts";
import { RunSummaries, summaryOf } from "../jobs/run-summary.ts";
import { defineCollection } from "../meta/collection.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { withHeldOut } from "./held-out.ts";

/*
 * Summaries for the run records written before putRun wrote them (or by a writer that did not): derived from the
 * records once per store, on the first list, then marked done. Bump SUMMARIES_VERSION when summaryOf changes what
 * it derives, and every summary is derived again.
 */

export const SUMMARIES_VERSION = "v1";

const Backfills = defineCollection({
  name: "run_summaries_backfill",
  schema: z.object({ at: z.string(), summarized: z.number().int().nonnegative() }),
});

/** Records read at once (they hold their metric streams) and summaries written per transaction. */
const READ_BATCH = 200;
const WRITE_GROUP = 100;

const checked = new WeakMap<MetadataStore, Promise<number>>();

/**
 * Makes sure every run record has a current summary: a no-op (one read, once per process and store) once done.
 * Returns how many summaries the check (the first call for this store in this process) wrote.
 */
export function ensureRunSummaries(meta: MetadataStore): Promise<number> {
  let done = checked.get(meta);
  if (!done) {
    done = backfill(meta).catch((err: unknown) => {
      checked.delete(meta);
      throw err;
    });
    checked.set(meta, done);
  }
  return done;
}

async function backfill(meta: MetadataStore): Promise<number> {
  if (await Backfills.get(meta, SUMMARIES_VERSION)) return 0;
  const have = new Map((await RunSummaries.query(meta)).map((d) => [d.id, d.data.updatedAt ?? null]));
  let written = 0;
  let after: string | undefined;
  for (;;) {
    // Keyed by run id, which is unique: a range on it pages without ties (and needs no composite index).
    const docs = await Runs.query(meta, {
      ...(after !== undefined ? { where: [{ field: "runId", op: ">", value: after }] } : {}),
      orderBy: { field: "runId" },
      limit: READ_BATCH,
    });
    const stale = docs.filter((d) => !have.has(d.id) || have.get(d.id) !== (d.data.updatedAt ?? null));
    const derived = await withHeldOut(
      meta,
      stale.map((d) => d.data),
    );
    for (let i = 0; i < derived.length; i += WRITE_GROUP)
      written += await writeSummaries(meta, derived.slice(i, i + WRITE_GROUP));
    if (docs.length < READ_BATCH) break;
    after = docs.at(-1)!.data.runId;
  }
  await Backfills.put(meta, SUMMARIES_VERSION, { at: new Date().toISOString(), summarized: written });
  return written;
}

/**
 * Writes the summaries of records as they were read; a record written meanwhile is skipped (its writer wrote its
 * summary), and the transaction's read of each record makes a write that lands between read and commit retry it.
 */
export async function writeSummaries(meta: MetadataStore, runs: RunRecord[]): Promise<number> {
  return meta.transaction(async (tx) => {
    let n = 0;
    for (const run of runs) {
      const current = await Runs.in(tx).get(run.runId);
      if (!current || current.updatedAt !== run.updatedAt) continue;
      RunSummaries.in(tx).set(run.runId, summaryOf(run));
      n++;
    }
    return n;
  });
}
