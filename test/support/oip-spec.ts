// Validates Open Inference Protocol responses against the vendored spec (serving/oip/spec/open_inference_rest.yaml)
// with ajv: the response schema is looked up from the spec's paths by method, path and status, as a client
// generated from the YAML would. The OpenAPI 3.0 schemas are JSON Schema once their `x-` keys are dropped and their
// `#/components/schemas/` refs point into `$defs`.
//
// Adapted, each a tightening the prose spec (inference_rest.md) states and the YAML leaves out:
// - `inference_error_response.error` is required (the YAML omits `required`; its siblings `metadata_*_error_response`
//   have it, and the prose says the body "must contain" the error string);
// - `parameters` values are string | number | boolean (the prose's `$parameter`; the YAML says only `type: object`);
// - objects carry only the fields the spec names (`additionalProperties: false`), so an extra field fails;
// - a binary output (binary tensor data extension) has no `data` but `parameters.binary_data_size`;
// - the health routes have no schema in the YAML: the prose's `$live_server_response` and `$ready_model_response`
//   are used, and `{"ready": bool}` for server ready (the prose's `$ready_server_response` says "live", a typo).
// - the YAML lists only the versioned model paths; the prose makes `/versions/${MODEL_VERSION}` optional.
import { readFileSync } from "node:fs";
import { Ajv, type ValidateFunction } from "ajv";
import { parse } from "yaml";

const SPEC_FILE = new URL("../../serving/oip/spec/open_inference_rest.yaml", import.meta.url);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = { [key: string]: Json };

interface Operation {
  responses: Record<string, { content?: { "application/json"?: { schema: { $ref: string } } } }>;
}
interface Spec {
  paths: Record<string, Record<string, Operation | unknown>>;
  components: { schemas: Record<string, Schema> };
}

const spec = parse(readFileSync(SPEC_FILE, "utf8")) as Spec;

/** OpenAPI 3.0 schema → JSON Schema: no `x-` keys, refs into `$defs`, closed objects, typed parameters. */
function convert(node: Json, inParametersSchema = false): Json {
  if (Array.isArray(node)) return node.map((n) => convert(n));
  if (node === null || typeof node !== "object") return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith("x-")) continue;
    if (key === "$ref" && typeof value === "string") out.$ref = value.replace("#/components/schemas/", "#/$defs/");
    else if (key === "properties" && value !== null && typeof value === "object" && !Array.isArray(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, s]) => [name, convert(s)]));
    } else out[key] = convert(value);
  }
  if (out.type === "object" && out.properties !== undefined && out.additionalProperties === undefined)
    out.additionalProperties = false;
  if (inParametersSchema) out.additionalProperties = { type: ["string", "number", "boolean"] };
  return out;
}

const defs: Record<string, Json> = Object.fromEntries(
  Object.entries(spec.components.schemas).map(([name, s]) => [name, convert(s, name === "parameters")]),
);
const errorSchema = defs.inference_error_response as Schema;
errorSchema.required = ["error"];
// Binary outputs: the extension moves `data` after the JSON header and says how many bytes it is.
const responseOutput = defs.response_output as Schema;
defs.binary_response_output = {
  anyOf: [
    { $ref: "#/$defs/response_output" },
    {
      ...responseOutput,
      required: ["name", "shape", "datatype", "parameters"],
      properties: {
        ...(responseOutput.properties as Schema),
        parameters: {
          allOf: [
            { $ref: "#/$defs/parameters" },
            {
              type: "object",
              required: ["binary_data_size"],
              properties: { binary_data_size: { type: "integer", minimum: 0 } },
            },
          ],
        },
      },
    },
  ],
};
const inferenceResponse = defs.inference_response as Schema;
defs.binary_inference_header = {
  ...inferenceResponse,
  properties: {
    ...(inferenceResponse.properties as Schema),
    outputs: { type: "array", items: { $ref: "#/$defs/binary_response_output" } },
  },
};
defs.live_server_response = {
  type: "object",
  additionalProperties: false,
  required: ["live"],
  properties: { live: { type: "boolean" } },
};
defs.ready_server_response = {
  type: "object",
  additionalProperties: false,
  required: ["ready"],
  properties: { ready: { type: "boolean" } },
};
defs.ready_model_response = {
  type: "object",
  additionalProperties: false,
  required: ["name", "ready"],
  properties: { name: { type: "string" }, ready: { type: "boolean" } },
};

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
ajv.addSchema({ $id: "oip", $defs: defs });

const validators = new Map<string, ValidateFunction>();
export function validatorFor(name: string): ValidateFunction {
  let v = validators.get(name);
  if (!v) {
    const found = ajv.getSchema(`oip#/$defs/${name}`);
    if (!found) throw new Error(`no schema ${name} in the OIP spec`);
    validators.set(name, (v = found));
  }
  return v;
}

/** The spec's errors for `body` against schema `name`, as readable lines; empty when it validates. */
export function schemaErrors(name: string, body: unknown): string[] {
  const v = validatorFor(name);
  return v(body)
    ? []
    : (v.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`);
}

const HEALTH: Record<string, string> = {
  "/v2/health/live": "live_server_response",
  "/v2/health/ready": "ready_server_response",
};

/**
 * Which schema the spec gives the response to `method path` with `status`: the operation's own for that status,
 * else (an error without its own) `inference_error_response`.
 */
export function responseSchemaName(method: string, path: string, status: number, binary = false): string {
  const route = specRoute(path);
  if (status >= 400) {
    const own =
      route &&
      (spec.paths[route]?.[method.toLowerCase()] as Operation | undefined)?.responses[String(status)]?.content?.[
        "application/json"
      ]?.schema.$ref;
    return own ? own.replace("#/components/schemas/", "") : "inference_error_response";
  }
  if (route === undefined) throw new Error(`${method} ${path} is no path of the OIP spec`);
  if (HEALTH[route]) return HEALTH[route];
  if (route.endsWith("/ready")) return "ready_model_response";
  const ref = (spec.paths[route]?.[method.toLowerCase()] as Operation | undefined)?.responses[String(status)]
    ?.content?.["application/json"]?.schema.$ref;
  if (!ref) throw new Error(`the OIP spec has no ${status} body for ${method} ${route}`);
  const name = ref.replace("#/components/schemas/", "");
  return binary && name === "inference_response" ? "binary_inference_header" : name;
}

/** The spec path a concrete path matches (`${NAME}` is one segment; the version part is optional). */
function specRoute(path: string): string | undefined {
  const clean = path.split("?")[0]!;
  for (const route of Object.keys(spec.paths)) {
    const pattern = route
      .replace(/\/$/, "")
      .split(/(\/versions\/\$\{MODEL_VERSION\})/)
      .map((part) =>
        part === "/versions/${MODEL_VERSION}" ? "(?:/versions/[^/]+)?" : part.replace(/\$\{[A-Z_]+\}/g, "[^/]+"),
      )
      .join("");
    if (new RegExp(`^${pattern}/?$`).test(clean)) return route;
  }
  return undefined;
}

export interface OipAnswer {
  status: number;
  headers: Headers;
  /** The JSON body, or the JSON header of a binary response. */
  json: unknown;
  /** The bytes after the JSON header of a binary response. */
  binary?: Buffer;
}

/**
 * Fetches an OIP route and checks the answer against the spec: its JSON body (or a binary response's JSON header)
 * validates against the schema the spec gives that path and status. Fails the test with the schema's complaints.
 */
export async function oipFetch(base: string, path: string, init: RequestInit = {}): Promise<OipAnswer> {
  const res = await fetch(`${base}${path}`, init);
  const bytes = Buffer.from(await res.arrayBuffer());
  const method = init.method ?? "GET";
  const headerLength = res.headers.get("inference-header-content-length");
  let json: unknown;
  let binary: Buffer | undefined;
  if (headerLength !== null) {
    if (res.headers.get("content-type") !== "application/octet-stream")
      throw new Error(`a binary response is application/octet-stream, not ${res.headers.get("content-type")}`);
    json = JSON.parse(bytes.subarray(0, Number(headerLength)).toString("utf8"));
    binary = bytes.subarray(Number(headerLength));
  } else {
    if (!/^application\/json\b/.test(res.headers.get("content-type") ?? ""))
      throw new Error(
        `${method} ${path} answered ${res.status} with content type ${res.headers.get("content-type")}, not JSON`,
      );
    json = JSON.parse(bytes.toString("utf8"));
  }
  const name = responseSchemaName(method, path, res.status, headerLength !== null);
  const errors = schemaErrors(name, json);
  if (errors.length > 0)
    throw new Error(
      `${method} ${path} → ${res.status}: the body does not validate against the spec's ${name}:\n${errors.join("\n")}\n${JSON.stringify(json).slice(0, 500)}`,
    );
  return { status: res.status, headers: res.headers, json, ...(binary ? { binary } : {}) };
}
