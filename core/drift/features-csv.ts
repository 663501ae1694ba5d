import { parse } from "csv-parse/sync";
import { z } from "zod";
import { DriftInputError } from "./compare.ts";

// csv-parse with `info: true` returns records with their source line; its typings do not say so, hence zod.
const RowsSchema = z.array(z.object({ record: z.array(z.string()), info: z.object({ lines: z.number() }) }));

// Plain decimal numbers only: Number() would also accept "", "0x1f" and "Infinity", which are not feature values.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Reads a feature table: a header row of feature names, then one row per sample, one numeric column per feature.
 * `file` only names the source in error messages, which give the line and column of the first bad cell.
 */
export function parseFeatureCsv(text: string | Buffer, file: string): Record<string, number[]> {
  let rows: z.infer<typeof RowsSchema>;
  try {
    rows = RowsSchema.parse(parse(text, { info: true, bom: true, trim: true, skip_empty_lines: true }));
  } catch (err) {
    throw new DriftInputError(`${file}: not a valid CSV file: ${err instanceof Error ? err.message : String(err)}`);
  }
  const [header, ...data] = rows;
  if (!header) throw new DriftInputError(`${file}: empty file; expected a header row of feature names`);
  const names = header.record;
  const blank = names.findIndex((n) => n === "");
  if (blank >= 0) throw new DriftInputError(`${file}: column ${blank + 1} of the header has no name`);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined) throw new DriftInputError(`${file}: column "${duplicate}" appears twice in the header`);
  if (data.length === 0) throw new DriftInputError(`${file}: no data rows after the header`);
  const columns = names.map(() => [] as number[]);
  for (const { record, info } of data) {
    for (let c = 0; c < names.length; c++) {
      const cell = record[c] ?? "";
      if (!DECIMAL.test(cell)) {
        throw new DriftInputError(
          `${file}: line ${info.lines}, column "${names[c]}": ${cell === "" ? "empty cell" : `"${cell}" is not a number`}`,
        );
      }
      columns[c]!.push(Number(cell));
    }
  }
  return Object.fromEntries(names.map((n, i) => [n, columns[i]!]));
}
