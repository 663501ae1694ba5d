import { z } from "zod";
import type { BlobStore } from "../blobs/blob-store.ts";
import { SightlineError } from "../errors.ts";
import type { RunRecord } from "../jobs/run-record.ts";
import { parseModelCard } from "../registry/model-card.ts";

/** A confusion matrix: rows are the true classes, columns the predicted ones, both in `classes` order. */
export interface ConfusionMatrix {
  classes: string[];
  matrix: number[][];
}

const Confusion = z.array(z.array(z.number().int().nonnegative()));

/**
 * The confusion matrix of a run's registered version on the held-out test split, read from its card (the artefact
 * `confusion_matrix` points into it); undefined when the run registered nothing.
 */
export async function runConfusion(
  blobs: BlobStore,
  run: Pick<RunRecord, "runId" | "artefacts">,
): Promise<ConfusionMatrix | undefined> {
  const ref = run.artefacts?.find((a) => a.kind === "confusion_matrix");
  if (!ref) return undefined;
  const card = parseModelCard(await blobs.get(ref.digest), ref.digest);
  const parsed = Confusion.safeParse(card.evaluation.confusion);
  const k = card.classes.length;
  if (!parsed.success || parsed.data.length !== k || parsed.data.some((row) => row.length !== k)) {
    throw new SightlineError(
      "corrupt",
      "confusion_invalid",
      `the card of run ${run.runId} (${ref.digest}) has no ${k}×${k} confusion matrix`,
    );
  }
  return { classes: card.classes, matrix: parsed.data };
}
