import { stat } from "node:fs/promises";
import { InvalidArgumentError } from "commander";

/** Parses a positive integer option or argument. */
export const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
  return n;
};

/** Whether an argument names an existing folder (rather than, say, a dataset id). */
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
