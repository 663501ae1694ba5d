export const SPLITS = ["train", "validation", "test"] as const;
export type Split = (typeof SPLITS)[number];

/**
 * The split of one file, decided by its own content hash: adding files never moves an existing one, and
 * identical bytes always land together (no leakage through duplicates). A declared `test` split is kept; a
 * declared `train` split still gives up its validation share.
 */
export function assignSplit(
  sha256Hex: string,
  declared: Split | undefined,
  fractions: { validation: number; test: number },
): Split {
  if (declared === "test" || declared === "validation") return declared;
  const u = Number.parseInt(sha256Hex.slice(0, 8), 16) / 0x1_0000_0000;
  if (declared === undefined && u < fractions.test) return "test";
  const start = declared === undefined ? fractions.test : 0;
  return u < start + fractions.validation ? "validation" : "train";
}
