import { z } from "zod";
import { SHA256_HEX } from "../../ids.ts";
import { defineEnv, type EnvSpec } from "../env.ts";

// The inference API's settings (serving/config.ts turns them into ServingConfig). An empty value counts as unset,
// as it always has for serving: the manifests' optional entries are written that way.
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const rate = z.coerce.number().min(0).max(1);
// A literal path: Express's own syntax (":param", "*") is escaped when it is mounted.
const route = z
  .string()
  .max(1024)
  .regex(/^\/[^\s?#]*$/, "must be a URL path starting with / (no query, no spaces)");

export const GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs";

const serving = <T, const N extends string>(
  spec: Omit<EnvSpec<T, N>, "components" | "emptyIsUnset"> & { components?: EnvSpec<T>["components"] },
) => defineEnv<T, N>({ components: ["serving"], emptyIsUnset: true, ...spec });

export const SIGHTLINE_SERVE_HOST = serving({
  name: "SIGHTLINE_SERVE_HOST",
  schema: z.string().min(1),
  defaultDoc: "`0.0.0.0` (`sightline serve`: `127.0.0.1`)",
  doc: "the address the inference API listens on",
  components: ["serving", "cli"],
});
export const PORT = serving({
  name: "PORT",
  schema: int(0, 65535),
  default: "8080",
  doc: "the public port (0 picks a free one); `AIP_HTTP_PORT` wins when set",
  components: ["serving", "cli"],
});
export const SIGHTLINE_SERVE_MODEL = serving({
  name: "SIGHTLINE_SERVE_MODEL",
  schema: z.string().min(1),
  default: "fmnist@production",
  doc: "the model served: `NAME@ALIAS` (follows the alias as it moves) or `NAME:VERSION` (pinned)",
  components: ["serving", "cli"],
  deprecatedAliases: ["SIGHTLINE_MODEL"],
});
export const SIGHTLINE_SERVE_WORKERS = serving({
  name: "SIGHTLINE_SERVE_WORKERS",
  schema: int(1, 64),
  defaultDoc: "one per core",
  doc: "worker processes sharing the port, each with its own ONNX session",
});
export const SIGHTLINE_ORT_THREADS = serving({
  name: "SIGHTLINE_ORT_THREADS",
  schema: int(1, 64),
  default: "1",
  doc: "ONNX Runtime intra-op threads per worker",
});
export const SIGHTLINE_ORT_PLACEMENT = serving({
  name: "SIGHTLINE_ORT_PLACEMENT",
  schema: z.enum(["auto", "thread", "inline"]),
  default: "auto",
  doc: "where a version's ONNX session runs: `thread`, `inline` (the event loop) or `auto` (by its measured run time)",
});
export const SIGHTLINE_MAX_BODY_BYTES = serving({
  name: "SIGHTLINE_MAX_BODY_BYTES",
  schema: int(1, 1 << 30),
  default: String(10 * 1024 * 1024),
  defaultDoc: "10 MB",
  doc: "largest request body, bytes (multipart: files and fields together)",
});
export const SIGHTLINE_MAX_PIXELS = serving({
  name: "SIGHTLINE_MAX_PIXELS",
  schema: int(1, 1 << 30),
  default: String(4096 * 4096),
  defaultDoc: "4096 × 4096",
  doc: "largest declared pixels of one image, read from its header (413)",
});
export const SIGHTLINE_MAX_IMAGES_PER_REQUEST = serving({
  name: "SIGHTLINE_MAX_IMAGES_PER_REQUEST",
  schema: int(1, 1024),
  default: "64",
  doc: "most images in one request",
});
export const SIGHTLINE_REQUEST_TIMEOUT_MS = serving({
  name: "SIGHTLINE_REQUEST_TIMEOUT_MS",
  schema: int(1, 600_000),
  default: "10000",
  doc: "a request's time limit, ms",
});
export const SIGHTLINE_BATCH_MAX_SIZE = serving({
  name: "SIGHTLINE_BATCH_MAX_SIZE",
  schema: int(1, 1024),
  default: "32",
  doc: "most images in one ONNX Runtime run",
});
export const SIGHTLINE_BATCH_MAX_DELAY_MS = serving({
  name: "SIGHTLINE_BATCH_MAX_DELAY_MS",
  schema: int(0, 1000),
  default: "0",
  doc: "how long a batch waits for company, ms",
});
export const SIGHTLINE_RELOAD_POLL_MS = serving({
  name: "SIGHTLINE_RELOAD_POLL_MS",
  schema: int(100, 3_600_000),
  default: "2000",
  doc: "how often each worker re-reads the served alias, ms",
});
export const SIGHTLINE_PREDICTION_LOG_RATE = serving({
  name: "SIGHTLINE_PREDICTION_LOG_RATE",
  schema: rate,
  default: "1",
  doc: "share of predictions published for drift detection",
});
export const SIGHTLINE_PREDICTION_LOG_EMBEDDING_RATE = serving({
  name: "SIGHTLINE_PREDICTION_LOG_EMBEDDING_RATE",
  schema: rate,
  default: "0.1",
  doc: "share of logged predictions that carry their embedding",
});
export const SIGHTLINE_PREDICTION_LOG_BUFFER = serving({
  name: "SIGHTLINE_PREDICTION_LOG_BUFFER",
  schema: int(1, 10_000_000),
  default: "10000",
  doc: "prediction records held for the bus before new ones are dropped",
});
export const SIGHTLINE_PREDICTION_LOG_FLUSH_MS = serving({
  name: "SIGHTLINE_PREDICTION_LOG_FLUSH_MS",
  schema: int(10, 600_000),
  default: "500",
  doc: "how often logged predictions are published, ms",
});
export const SIGHTLINE_ADMIN_TOKEN = serving({
  name: "SIGHTLINE_ADMIN_TOKEN",
  schema: z.string().min(16, "must be at least 16 characters"),
  doc: "bearer token for `POST /admin/reload`; the admin routes are off without it",
  secret: true,
});
export const SIGHTLINE_CORS_ORIGINS = serving({
  name: "SIGHTLINE_CORS_ORIGINS",
  schema: z.string(),
  defaultDoc: "none",
  doc: "comma-separated origins allowed by CORS",
});
export const SIGHTLINE_DRAIN_SECONDS = serving({
  name: "SIGHTLINE_DRAIN_SECONDS",
  schema: z.coerce.number().min(0).max(600),
  default: "0",
  doc: "seconds serving keeps answering after SIGTERM while the load balancer notices",
});
export const SIGHTLINE_IMAGE_FORMATS = serving({
  name: "SIGHTLINE_IMAGE_FORMATS",
  // core/imaging/formats.ts parses it, in every process that decodes images.
  schema: z.string(),
  defaultDoc: "`png,jpeg,webp`",
  doc: "image formats decoded (also `gif`, `tiff`), by their magic bytes; every other libvips loader is blocked",
  components: ["serving", "trainer", "cli", "functions"],
});
export const SIGHTLINE_MAX_REQUEST_PIXELS = serving({
  name: "SIGHTLINE_MAX_REQUEST_PIXELS",
  schema: int(1, 2 ** 40),
  defaultDoc: "4 × `SIGHTLINE_MAX_PIXELS`",
  doc: "declared pixels of all a request's images together (413)",
});
export const SIGHTLINE_MAX_DECODES = serving({
  name: "SIGHTLINE_MAX_DECODES",
  schema: int(1, 1024),
  default: "4",
  doc: "image decodes in flight per worker process",
});
export const SIGHTLINE_DECODE_QUEUE = serving({
  name: "SIGHTLINE_DECODE_QUEUE",
  schema: int(0, 1_000_000),
  default: "256",
  doc: "images waiting for a decode; beyond it a request gets 503 `overloaded`",
});
export const SIGHTLINE_INTERNAL_PORT = serving({
  name: "SIGHTLINE_INTERNAL_PORT",
  schema: int(0, 65535),
  defaultDoc: "unset: on `PORT`",
  doc: "a second port for `/metrics` and `/admin/*`, kept off the public one",
});
export const SIGHTLINE_BATCH_MAX_QUEUE = serving({
  name: "SIGHTLINE_BATCH_MAX_QUEUE",
  schema: int(1, 1_000_000),
  default: "256",
  doc: "images waiting for a batch run per worker; beyond it inference gets 503",
});
export const SIGHTLINE_METRICS_WORKER_TIMEOUT_MS = serving({
  name: "SIGHTLINE_METRICS_WORKER_TIMEOUT_MS",
  schema: int(10, 60_000),
  default: "2000",
  doc: "how long a scrape waits for each worker's metrics, ms",
});
export const SIGHTLINE_SERVE_AUTH = serving({
  name: "SIGHTLINE_SERVE_AUTH",
  schema: z.enum(["none", "api-key", "google-id-token"]),
  default: "none",
  doc: "how inference routes authenticate callers: `none`, `api-key` or `google-id-token`",
});
export const SIGHTLINE_SERVE_API_KEY_HASHES = serving({
  name: "SIGHTLINE_SERVE_API_KEY_HASHES",
  schema: z
    .string()
    .transform((s) =>
      s
        .split(/[\s,]+/)
        .filter(Boolean)
        .map((h) => h.replace(/^sha256:/, "").toLowerCase()),
    )
    .pipe(
      z
        .array(z.string().regex(SHA256_HEX, "each entry must be a SHA-256 hash (64 hex digits), not a key"))
        .min(1, "no hash given"),
    ),
  doc: "for `api-key`: SHA-256 hashes of the accepted keys, comma- or newline-separated",
  secret: true,
});
export const SIGHTLINE_SERVE_AUDIENCE = serving({
  name: "SIGHTLINE_SERVE_AUDIENCE",
  schema: z.string().min(1),
  doc: "for `google-id-token`: the `aud` callers' Google ID tokens must carry",
});
export const SIGHTLINE_GOOGLE_JWKS_URL = serving({
  name: "SIGHTLINE_GOOGLE_JWKS_URL",
  schema: z.url({ protocol: /^https?$/ }),
  default: GOOGLE_JWKS_URL,
  doc: "where Google's token signing keys are read (cached)",
});
export const SIGHTLINE_REQUEST_LOG_RATE = serving({
  name: "SIGHTLINE_REQUEST_LOG_RATE",
  schema: rate,
  default: "1",
  doc: "share of successful requests logged; errors and slow requests always are",
});
export const SIGHTLINE_SLOW_REQUEST_MS = serving({
  name: "SIGHTLINE_SLOW_REQUEST_MS",
  schema: int(1, 3_600_000),
  default: "1000",
  doc: "a request slower than this is logged at WARNING, ms",
});
export const SIGHTLINE_TRUSTED_PROXY_HOPS = serving({
  name: "SIGHTLINE_TRUSTED_PROXY_HOPS",
  schema: int(0, 16),
  default: "0",
  doc: "proxies in front that append to `X-Forwarded-For` (Express `trust proxy`, a count)",
});
/** Set by the cluster primary for its workers (the JSON of their setup); never by an operator. */
export const SIGHTLINE_SERVE_WORKER = serving({
  name: "SIGHTLINE_SERVE_WORKER",
  schema: z.string(),
  doc: "internal: set by serving's primary process for its workers (their setup, JSON)",
});

// Vertex AI's custom-container contract: Vertex sets these in the container it runs; we never do.
export const AIP_HTTP_PORT = serving({
  name: "AIP_HTTP_PORT",
  schema: int(1, 65535),
  doc: "set by Vertex AI: the port it sends requests to (wins over `PORT`)",
});
export const AIP_PREDICT_ROUTE = serving({
  name: "AIP_PREDICT_ROUTE",
  schema: route,
  doc: "set by Vertex AI: a path answered like `/vertex/predict`",
});
export const AIP_HEALTH_ROUTE = serving({
  name: "AIP_HEALTH_ROUTE",
  schema: route,
  doc: "set by Vertex AI: a path answered by the readiness check",
});
export const AIP_DEPLOYED_MODEL_ID = serving({
  name: "AIP_DEPLOYED_MODEL_ID",
  schema: z.string().max(256),
  defaultDoc: "empty",
  doc: "set by Vertex AI: echoed as `deployedModelId`",
});

/** Read by serving/config.ts, in this order (the first invalid one is reported); SIGHTLINE_SERVE_WORKER is not among them. */
export const SERVING_SETTINGS = [
  SIGHTLINE_SERVE_HOST,
  PORT,
  SIGHTLINE_SERVE_MODEL,
  SIGHTLINE_SERVE_WORKERS,
  SIGHTLINE_ORT_THREADS,
  SIGHTLINE_ORT_PLACEMENT,
  SIGHTLINE_MAX_BODY_BYTES,
  SIGHTLINE_MAX_PIXELS,
  SIGHTLINE_MAX_IMAGES_PER_REQUEST,
  SIGHTLINE_REQUEST_TIMEOUT_MS,
  SIGHTLINE_BATCH_MAX_SIZE,
  SIGHTLINE_BATCH_MAX_DELAY_MS,
  SIGHTLINE_RELOAD_POLL_MS,
  SIGHTLINE_PREDICTION_LOG_RATE,
  SIGHTLINE_PREDICTION_LOG_EMBEDDING_RATE,
  SIGHTLINE_PREDICTION_LOG_BUFFER,
  SIGHTLINE_PREDICTION_LOG_FLUSH_MS,
  SIGHTLINE_ADMIN_TOKEN,
  SIGHTLINE_CORS_ORIGINS,
  SIGHTLINE_DRAIN_SECONDS,
  SIGHTLINE_IMAGE_FORMATS,
  SIGHTLINE_MAX_REQUEST_PIXELS,
  SIGHTLINE_MAX_DECODES,
  SIGHTLINE_DECODE_QUEUE,
  SIGHTLINE_INTERNAL_PORT,
  SIGHTLINE_BATCH_MAX_QUEUE,
  SIGHTLINE_METRICS_WORKER_TIMEOUT_MS,
  SIGHTLINE_SERVE_AUTH,
  SIGHTLINE_SERVE_API_KEY_HASHES,
  SIGHTLINE_SERVE_AUDIENCE,
  SIGHTLINE_GOOGLE_JWKS_URL,
  SIGHTLINE_REQUEST_LOG_RATE,
  SIGHTLINE_SLOW_REQUEST_MS,
  SIGHTLINE_TRUSTED_PROXY_HOPS,
  AIP_HTTP_PORT,
  AIP_PREDICT_ROUTE,
  AIP_HEALTH_ROUTE,
  AIP_DEPLOYED_MODEL_ID,
] as const;
