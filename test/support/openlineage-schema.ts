import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import type { FormatsPlugin } from "ajv-formats";

const FIXTURES = fileURLToPath(new URL("../fixtures/openlineage/", import.meta.url));
const CORE = join(FIXTURES, "OpenLineage-2-0-2.json");
const FACETS = join(FIXTURES, "facets");

function ajvWithSchemas(): { ajv: Ajv2020; facetIds: string[] } {
  // ajv-formats is CommonJS whose default export TypeScript's nodenext typing does not see as callable.
  const addFormats = createRequire(import.meta.url)("ajv-formats") as FormatsPlugin;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(JSON.parse(readFileSync(CORE, "utf8")) as object);
  const facetIds: string[] = [];
  for (const file of readdirSync(FACETS).filter((f) => f.endsWith(".json"))) {
    const schema = JSON.parse(readFileSync(join(FACETS, file), "utf8")) as { $id: string };
    ajv.addSchema(schema);
    facetIds.push(schema.$id);
  }
  return { ajv, facetIds };
}

/** A validator for the published OpenLineage 2-0-2 schema, with its formats (uuid, uri, date-time) enforced. */
export function openLineageValidator(): ValidateFunction {
  const { ajv } = ajvWithSchemas();
  const validate = ajv.getSchema("https://openlineage.io/spec/2-0-2/OpenLineage.json");
  if (!validate) throw new Error("the vendored OpenLineage core schema did not load");
  return validate;
}

type Facets = Record<string, { _schemaURL?: unknown }> | undefined;
type EventLike = {
  run?: { facets?: Facets };
  job?: { facets?: Facets };
  inputs?: { facets?: Facets }[];
  outputs?: { facets?: Facets }[];
};

/**
 * Checks every facet of an event against the vendored schema its `_schemaURL` names (`<$id>#/$defs/<Facet>`).
 * Our own `urn:` facets have none; any other facet without a vendored schema is reported, so nothing goes unchecked.
 * Returns the problems, each as `<where>: <message>`; none means valid.
 */
export function facetValidator(): (event: EventLike) => string[] {
  const { ajv, facetIds } = ajvWithSchemas();
  return (event) => {
    const problems: string[] = [];
    const check = (where: string, facets: Facets): void => {
      for (const [key, facet] of Object.entries(facets ?? {})) {
        const url = typeof facet._schemaURL === "string" ? facet._schemaURL : "";
        if (url.startsWith("urn:sightline:")) continue;
        if (!facetIds.includes(url.split("#")[0] ?? "")) {
          problems.push(`${where}.${key}: no vendored schema for ${JSON.stringify(url)}`);
          continue;
        }
        const validate = ajv.getSchema(url);
        if (!validate) {
          problems.push(`${where}.${key}: ${url} names no definition`);
          continue;
        }
        if (!validate(facet))
          problems.push(
            ...(validate.errors ?? []).map(
              (e: ErrorObject) => `${where}.${key}${e.instancePath}: ${e.message ?? e.keyword}`,
            ),
          );
      }
    };
    check("run", event.run?.facets);
    check("job", event.job?.facets);
    event.inputs?.forEach((d, i) => check(`inputs[${i}]`, d.facets));
    event.outputs?.forEach((d, i) => check(`outputs[${i}]`, d.facets));
    return problems;
  };
}
