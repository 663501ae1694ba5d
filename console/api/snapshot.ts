import { z } from "zod";

/**
 * A static export of the console: the API's answers captured at one moment, embedded in the page as a JSON data
 * block (never executed) with this id. When the page holds one, the front end reads its answers from it instead of
 * fetching, so the same views work from file:// with no server.
 */
export const SNAPSHOT_ELEMENT_ID = "sightline-snapshot";

const Answer = z.object({ status: z.number().int(), body: z.unknown() });

export const StaticSnapshot = z.object({
  exportedAt: z.string(),
  /** Where the state came from (SIGHTLINE_HOME, or the stores' URIs). */
  source: z.string(),
  /** The page a reader lands on when the address names none, e.g. `#/models/fmnist`. */
  start: z.string().optional(),
  /** Links the snapshot's note offers first: what the export was made to show. */
  highlights: z.array(z.object({ label: z.string(), href: z.string() })),
  /** GET answers by snapshotKey(path): the status and JSON body the live API gave. */
  answers: z.record(z.string(), Answer),
});
export type StaticSnapshot = z.infer<typeof StaticSnapshot>;

/** One key per API request however its query is spelled: the path, then the parameters sorted. */
export function snapshotKey(path: string): string {
  const url = new URL(path, "http://snapshot.invalid");
  url.searchParams.sort();
  const query = url.searchParams.toString();
  return query ? `${url.pathname}?${query}` : url.pathname;
}
