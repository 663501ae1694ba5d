import type { MetadataStore } from "../../core/meta/metadata-store.ts";

/** A contention workload shared by every MetadataStore adapter's race test. */
export interface RaceTask {
  kind: "cas" | "increment";
  collection: string;
  writers: number;
  rounds: number;
}

export interface RaceResult {
  writer: string;
  /** cas: the rounds this writer won; increment: one entry per committed increment. */
  won: number[];
}

/**
 * cas: for each round r every writer tries once to move `slot` from round r to r+1, appending itself to the log.
 * Writers lose a round when another already moved it. increment: each writer adds 1 to `counter` `rounds` times.
 */
export async function runRace(store: MetadataStore, task: RaceTask, writer: string): Promise<RaceResult> {
  const won: number[] = [];
  for (let r = 0; r < task.rounds; r++) {
    if (task.kind === "increment") {
      await store.transaction(async (tx) => {
        const doc = await tx.get(task.collection, "counter");
        tx.set(task.collection, "counter", { n: Number(doc?.data.n ?? 0) + 1 });
      });
      won.push(r);
      continue;
    }
    const mine = await store.transaction(async (tx) => {
      const doc = await tx.get(task.collection, "slot");
      const round = Number(doc?.data.round ?? 0);
      if (round !== r) return false;
      const log = (doc?.data.log as string[] | undefined) ?? [];
      tx.set(task.collection, "slot", { round: r + 1, log: [...log, writer] });
      return true;
    });
    if (mine) won.push(r);
  }
  return { writer, won };
}
