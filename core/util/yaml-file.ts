import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { digestOf } from "./digest.ts";

/** Builds the error a bad file raises: a plain Error, or (for a file an operator configures) a ConfigError. */
export type FileErrorFactory = (message: string, options?: ErrorOptions) => Error;
const plainError: FileErrorFactory = (message, options) => new Error(message, options);

/** Reads a YAML file and validates it; errors say which file (as `what`) and what is wrong. Returns its digest too. */
export async function readYamlFile<S extends z.ZodType>(
  path: string,
  schema: S,
  what: string,
  fail: FileErrorFactory = plainError,
): Promise<{ value: z.output<S>; digest: string }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw fail(`cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
  return { value: parseYamlText(text, schema, `${what} ${path}`, fail), digest: digestOf(text) };
}

/** Parses YAML text (empty means `{}`) against a schema. */
export function parseYamlText<S extends z.ZodType>(
  text: string,
  schema: S,
  where: string,
  fail: FileErrorFactory = plainError,
): z.output<S> {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw fail(`${where} is not YAML: ${(err as Error).message}`, { cause: err });
  }
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success) throw fail(`${where} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
