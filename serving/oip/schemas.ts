import { z } from "zod";
import { ApiError, briefIssues } from "../errors.ts";

// Larger than any tensor an image model takes; checked before zod walks the arrays.
export const MAX_RANK = 8;
const MAX_OUTPUTS = 16;
const MAX_PARAMETERS = 64;

/** The spec's `$parameters`: "name"/"value" pairs whose value is a string, number or boolean (never an object). */
export const ParametersSchema = z.record(
  z.string().max(256),
  z.union([z.string().max(4096), z.number(), z.boolean()], {
    error: "a parameter's value must be a string, number or boolean",
  }),
);
export type Parameters = z.infer<typeof ParametersSchema>;

const InputSchema = z
  .object({
    name: z.string().max(256),
    shape: z.array(z.number().int().nonnegative()).max(MAX_RANK),
    datatype: z.string().max(32),
    parameters: ParametersSchema.optional(),
    // Walked once its length is known to fit the shape; zod would copy it element by element.
    data: z.custom<unknown[]>((v) => Array.isArray(v), "data must be an array").optional(),
  })
  // The binary tensor data extension replaces `data` with bytes after the JSON header.
  .refine((t) => t.data !== undefined || t.parameters?.binary_data_size !== undefined, {
    message: "an input needs data (or parameters.binary_data_size with the binary extension)",
    path: ["data"],
  });
export type RequestInput = z.infer<typeof InputSchema>;

const OutputSchema = z.object({ name: z.string().max(256), parameters: ParametersSchema.optional() });
export type RequestOutput = z.infer<typeof OutputSchema>;

/** The spec's `$inference_request`. */
const InferRequestSchema = z.object({
  id: z.string().max(256).optional(),
  parameters: ParametersSchema.optional(),
  inputs: z.array(InputSchema).min(1),
  outputs: z.array(OutputSchema).max(MAX_OUTPUTS).optional(),
});
export type InferRequest = z.infer<typeof InferRequestSchema>;

/** Parses an inference request, refusing it from its counts first (see checkCounts). */
export function parseInferRequest(body: unknown): InferRequest {
  checkCounts(body);
  const parsed = InferRequestSchema.safeParse(body);
  if (!parsed.success) throw new ApiError("bad_request", `not an inference request: ${briefIssues(parsed.error)}`);
  return parsed.data;
}

/**
 * Counts and sizes before elements: a request listing a million inputs, shape entries or parameters must be
 * refused from its lengths, not validated item by item into a million-issue error.
 */
function checkCounts(body: unknown): void {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new ApiError("bad_request", "not an inference request: the body must be a JSON object");
  const { inputs, outputs, parameters } = body as Record<string, unknown>;
  if (Array.isArray(inputs)) {
    if (inputs.length > 1) throw new ApiError("invalid_tensor", `the model takes one input; got ${inputs.length}`);
    const shape: unknown = (inputs[0] as Record<string, unknown> | undefined)?.shape;
    if (Array.isArray(shape) && shape.length > MAX_RANK)
      throw new ApiError("invalid_tensor", `shape has ${shape.length} dimensions; at most ${MAX_RANK}`);
  }
  if (Array.isArray(outputs) && outputs.length > MAX_OUTPUTS)
    throw new ApiError("bad_request", `${outputs.length} outputs requested; at most ${MAX_OUTPUTS}`);
  if (typeof parameters === "object" && parameters !== null && Object.keys(parameters).length > MAX_PARAMETERS) {
    throw new ApiError("bad_request", `${Object.keys(parameters).length} parameters; at most ${MAX_PARAMETERS}`);
  }
}

/** A boolean parameter (`binary_data`, `binary_data_output`): absent is `undefined`, any other type is a 400. */
export function booleanParameter(parameters: Parameters | undefined, name: string, where: string): boolean | undefined {
  const value = parameters?.[name];
  if (value === undefined || typeof value === "boolean") return value;
  throw new ApiError(
    "bad_request",
    `${where}.parameters.${name} must be a boolean; got ${JSON.stringify(value).slice(0, 64)}`,
  );
}

/** A positive integer parameter (`classification`, `binary_data_size`). */
export function countParameter(
  parameters: Parameters | undefined,
  name: string,
  where: string,
  min: number,
): number | undefined {
  const value = parameters?.[name];
  if (value === undefined) return undefined;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= min) return value;
  throw new ApiError(
    "bad_request",
    `${where}.parameters.${name} must be an integer ≥ ${min}; got ${JSON.stringify(value).slice(0, 64)}`,
  );
}
