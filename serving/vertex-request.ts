import { z } from "zod";
import { sniffImageFormat, type ImageFormat } from "../core/imaging/formats.ts";
import { ApiError, briefIssues } from "./errors.ts";
import { decodeBase64, instanceList } from "./inputs.ts";

// Vertex AI sends a custom container {"instances": [...], "parameters": {...}}
// (https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements). Image instances come in the
// forms Vertex users already send: TF Serving's {"b64"}, the prebuilt containers' {"image_bytes": {"b64"}}, and
// the AutoML image schema {"content", "mimeType"}; parameters follow the AutoML image classification schema.

const SHAPE = 'JSON body must be {"instances":[…],"parameters":{…}}';
const FORMS = '{"b64":"…"}, {"image_bytes":{"b64":"…"}} or {"content":"…","mimeType":"image/…"}';
const PARAMETERS = ["confidenceThreshold", "maxPredictions"] as const;

export interface VertexParameters {
  /** Classes below this confidence are left out of the answer (0: none is). */
  confidenceThreshold: number;
  /** At most this many classes per prediction, the most confident first (undefined: all). */
  maxPredictions: number | undefined;
}

export interface VertexRequest {
  images: Uint8Array[];
  parameters: VertexParameters;
}

export interface VertexLimits {
  maxImages: number;
  /** The formats decoded: a declared mimeType must name one of them. */
  formats: readonly ImageFormat[];
}

const MIME_TYPES: Record<ImageFormat, string> = {
  png: "image/png",
  jpeg: "image/jpeg",
  webp: "image/webp",
  gif: "image/gif",
  tiff: "image/tiff",
};
const FORMAT_OF: Record<string, ImageFormat> = {
  ...Object.fromEntries(Object.entries(MIME_TYPES).map(([f, m]) => [m, f as ImageFormat])),
  "image/jpg": "jpeg",
};

const B64 = z.object({ b64: z.string("b64 must be a string").min(1, "b64 is empty") }).strict();
const FORM_SCHEMAS = {
  b64: B64,
  image_bytes: z.object({ image_bytes: B64 }).strict(),
  content: z
    .object({
      content: z.string("content must be a string").min(1, "content is empty"),
      mimeType: z.string("mimeType must be a string").max(128).optional(),
    })
    .strict(),
} as const;

const ParametersSchema = z
  .object({
    confidenceThreshold: z
      .number("confidenceThreshold must be a number from 0 to 1")
      .min(0, "confidenceThreshold must be from 0 to 1")
      .max(1, "confidenceThreshold must be from 0 to 1")
      .optional(),
    maxPredictions: z
      .number("maxPredictions must be an integer ≥ 1")
      .int("maxPredictions must be an integer ≥ 1")
      .min(1, "maxPredictions must be an integer ≥ 1")
      .max(Number.MAX_SAFE_INTEGER)
      .optional(),
  })
  .strict();

/** The images and parameters of a Vertex prediction request (parsed JSON), or an ApiError saying what to change. */
export function readVertexRequest(body: unknown, limits: VertexLimits): VertexRequest {
  const list = instanceList(body, limits.maxImages, SHAPE);
  const parameters = readParameters((body as Record<string, unknown>).parameters);
  return { images: list.map((item, i) => readInstance(item, i, limits.formats)), parameters };
}

function readParameters(raw: unknown): VertexParameters {
  if (raw === undefined || raw === null) return { confidenceThreshold: 0, maxPredictions: undefined };
  if (typeof raw !== "object" || Array.isArray(raw))
    throw new ApiError("bad_request", `${SHAPE}: parameters must be an object`);
  // Counted first: a body of a million unknown keys must not become a million-key error message.
  const keys = Object.keys(raw);
  if (keys.length > PARAMETERS.length)
    throw new ApiError(
      "bad_request",
      `parameters has ${keys.length} keys; the accepted ones are ${PARAMETERS.join(" and ")}`,
    );
  const parsed = ParametersSchema.safeParse(raw);
  if (!parsed.success)
    throw new ApiError("bad_request", `parameters: ${briefIssues(parsed.error)} (accepted: ${PARAMETERS.join(", ")})`);
  return { confidenceThreshold: parsed.data.confidenceThreshold ?? 0, maxPredictions: parsed.data.maxPredictions };
}

function readInstance(item: unknown, i: number, formats: readonly ImageFormat[]): Uint8Array {
  const where = `instances[${i}]`;
  if (typeof item !== "object" || item === null || Array.isArray(item))
    throw new ApiError("bad_request", `${where} must be an object: ${FORMS}`);
  const form = (Object.keys(FORM_SCHEMAS) as (keyof typeof FORM_SCHEMAS)[]).find((key) => key in item);
  if (form === undefined)
    throw new ApiError("bad_request", `${where} has none of b64, image_bytes, content: send ${FORMS}`);
  const parsed = FORM_SCHEMAS[form].safeParse(item);
  if (!parsed.success) throw new ApiError("bad_request", `${where}: ${briefIssues(parsed.error)}; send ${FORMS}`);
  const data = parsed.data;
  if ("b64" in data) return decodeBase64(data.b64, `${where}.b64`);
  if ("image_bytes" in data) return decodeBase64(data.image_bytes.b64, `${where}.image_bytes.b64`);
  const bytes = decodeBase64(data.content, `${where}.content`);
  if (data.mimeType !== undefined) checkMimeType(data.mimeType, bytes, where, formats);
  return bytes;
}

/** A declared type must be one decoded here and what the bytes are; the bytes' magic decides, never the label. */
function checkMimeType(mimeType: string, bytes: Uint8Array, where: string, formats: readonly ImageFormat[]): void {
  const declared = mimeType.split(";")[0]!.trim().toLowerCase();
  const format = FORMAT_OF[declared];
  if (format === undefined || !formats.includes(format)) {
    throw new ApiError(
      "unsupported_media_type",
      `${where}.mimeType ${JSON.stringify(mimeType.slice(0, 64))} is not accepted; send ${formats.map((f) => MIME_TYPES[f]).join(", ")}`,
    );
  }
  const actual = sniffImageFormat(bytes);
  if (actual !== format)
    throw new ApiError(
      "bad_request",
      `${where}.mimeType is ${declared} but the content is ${actual === undefined ? "no known image format" : `a ${actual.toUpperCase()} image`}`,
    );
}
