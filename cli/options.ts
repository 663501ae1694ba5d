import { InvalidArgumentError } from "commander";

/** Parses a positive integer option or argument. */
export const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
  return n;
};
