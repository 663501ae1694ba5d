import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import type { FormatsPlugin } from "ajv-formats";

const SCHEMA = fileURLToPath(new URL("../fixtures/openlineage/OpenLineage-2-0-2.json", import.meta.url));

/** A validator for the published OpenLineage 2-0-2 schema, with its formats (uuid, uri, date-time) enforced. */
export function openLineageValidator(): ValidateFunction {
  // ajv-formats is CommonJS whose default export TypeScript's nodenext typing does not see as callable.
  const addFormats = createRequire(import.meta.url)("ajv-formats") as FormatsPlugin;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv.compile(JSON.parse(readFileSync(SCHEMA, "utf8")) as object);
}
