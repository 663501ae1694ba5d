import { availableParallelism } from "node:os";
import { ConfigError } from "../core/config/config.ts";
import type { Env, EnvVar } from "../core/config/env.ts";
import { SERVING_SETTINGS, SIGHTLINE_SERVE_MODEL } from "../core/config/settings/serving.ts";
import { parseImageFormats, type ImageFormat } from "../core/imaging/formats.ts";
import { parseModelRef } from "../core/registry/model-version.ts";
import type { OrtPlacement } from "./ort-session.ts";

export const DEFAULT_MODEL = SIGHTLINE_SERVE_MODEL.default!;

export type ServedRef = { name: string; alias: string } | { name: string; version: number };

/** What the inference API needs beyond the ports: every value from the serving settings (core/config/settings/serving.ts). */
export interface ServingConfig {
  host: string;
  port: number;
  /** A moving alias (hot-swapped) or a pinned version. */
  model: ServedRef;
  /** Worker processes answering on the port; each holds its own ONNX session. */
  workers: number;
  /** ONNX Runtime intra-op threads per worker. */
  ortThreads: number;
  /** Where each model's ONNX Runtime session runs: its own thread, the event loop, or `auto` (by its run time). */
  ortPlacement: OrtPlacement;
  maxBodyBytes: number;
  /** Decoded pixels per image (width × height), checked from the header before decoding. */
  maxPixels: number;
  maxImagesPerRequest: number;
  requestTimeoutMs: number;
  batch: { maxSize: number; maxDelayMs: number };
  /** How often each worker re-reads the alias (a promotion or rollback reaches every replica this way). */
  reloadPollMs: number;
  predictionLog: {
    sampleRate: number;
    embeddingRate: number;
    bufferSize: number;
    flushMs: number;
    maxRecordsPerEvent: number;
  };
  /** Bearer token for POST /admin/reload; admin routes are off without it. */
  adminToken: string | undefined;
  /** Origins allowed by CORS; none by default. */
  corsOrigins: string[];
  /** Seconds to keep answering after SIGTERM while the load balancer notices the pod is not ready. */
  drainSeconds: number;
  // Hostile-input bounds: what is decoded, how much of it per request, and how many decodes at once.
  /** Formats decoded, recognised by their magic bytes; sharp's other loaders are blocked. */
  imageFormats: ImageFormat[];
  /** Declared pixels of all a request's images together (each is also held to maxPixels). */
  maxRequestPixels: number;
  /** Image decodes in flight per worker process, and images waiting for one; beyond that, 503 + Retry-After. */
  decodes: { maxActive: number; maxQueued: number };
  // --- exposure, load shedding and authentication of the public port
  /** Port of the internal listener (/metrics, /admin/*), which the Service does not expose; unset: both on `port`. */
  internalPort: number | undefined;
  /** Images waiting for a batch run (per worker) beyond which inference requests get 503 and Retry-After. */
  maxQueuedImages: number;
  /** How long the cluster primary waits for each worker's metrics before answering a scrape without them. */
  metricsWorkerTimeoutMs: number;
  auth: ServeAuth;
  // --- request logs and client addresses
  /** Request logs: 2xx/3xx sampled at `sampleRate`; errors (≥ 400) and requests slower than `slowMs` always. */
  requestLog: { sampleRate: number; slowMs: number };
  /** Proxies in front of us that append to X-Forwarded-For (Express `trust proxy`): `remoteIp` is the client they saw. */
  trustedProxyHops: number;
  vertex: VertexSettings;
}

/**
 * Vertex AI's custom-container contract (docs/deploy-vertex.md): Vertex sets these AIP_* variables in the
 * container it runs; none is ever set by us.
 */
export interface VertexSettings {
  /** Paths answered by the Vertex predict handler: VERTEX_PREDICT_ROUTE always, plus AIP_PREDICT_ROUTE when set. */
  predictRoutes: string[];
  /** AIP_HEALTH_ROUTE: answered by the readiness check (503 until a model is loaded), like /ready. */
  healthRoute: string | undefined;
  /** AIP_DEPLOYED_MODEL_ID, echoed as `deployedModelId`; empty outside Vertex. */
  deployedModelId: string;
}

/** Where the Vertex predict handler answers even without AIP_PREDICT_ROUTE (local use, and the documented route). */
export const VERTEX_PREDICT_ROUTE = "/vertex/predict";

/** How the inference routes authenticate callers (the probes stay open). */
export type ServeAuth =
  | { mode: "none" }
  | { mode: "api-key"; keyHashes: string[] }
  | { mode: "google-id-token"; audience: string; jwksUrl: string };

export { GOOGLE_JWKS_URL } from "../core/config/settings/serving.ts";

type Variables = { [K in (typeof SERVING_SETTINGS)[number] as K["name"]]?: K extends EnvVar<infer T> ? T : never };

function readVariables(env: Env): Variables {
  const out: Record<string, unknown> = {};
  for (const v of SERVING_SETTINGS) out[v.name] = (v as EnvVar<unknown>).read(env);
  return out as Variables;
}

/**
 * Serving settings from the environment, with overrides (the CLI's flags) on top. Defaults suit a small pod:
 * one worker per core, one ONNX thread each, a 10 MB body, no batching delay, every prediction logged with
 * features and one in ten with its embedding.
 */
export function loadServingConfig(env: Env = process.env, overrides: Partial<ServingConfig> = {}): ServingConfig {
  const v = readVariables(env);
  let model: ServingConfig["model"];
  try {
    const ref = parseModelRef(v.SIGHTLINE_SERVE_MODEL!);
    model =
      ref.version !== undefined
        ? { name: ref.name, version: ref.version }
        : { name: ref.name, alias: ref.alias ?? "production" };
  } catch (err) {
    // Named as it was set: an old name still in a manifest is the one to fix.
    throw new ConfigError(
      `${SIGHTLINE_SERVE_MODEL.lookup(env, { onDeprecated: () => {} }).from ?? SIGHTLINE_SERVE_MODEL.name}: ${(err as Error).message}`,
    );
  }
  return {
    host: v.SIGHTLINE_SERVE_HOST ?? "0.0.0.0",
    port: publicPort(v),
    model,
    workers: v.SIGHTLINE_SERVE_WORKERS ?? availableParallelism(),
    ortThreads: v.SIGHTLINE_ORT_THREADS!,
    ortPlacement: v.SIGHTLINE_ORT_PLACEMENT!,
    maxBodyBytes: v.SIGHTLINE_MAX_BODY_BYTES!,
    maxPixels: v.SIGHTLINE_MAX_PIXELS!,
    maxImagesPerRequest: v.SIGHTLINE_MAX_IMAGES_PER_REQUEST!,
    requestTimeoutMs: v.SIGHTLINE_REQUEST_TIMEOUT_MS!,
    // No added delay by default: images that arrive while a batch runs form the next one anyway, and waiting for
    // company measurably idled the workers at 8 concurrent clients (bench:serve).
    batch: { maxSize: v.SIGHTLINE_BATCH_MAX_SIZE!, maxDelayMs: v.SIGHTLINE_BATCH_MAX_DELAY_MS! },
    reloadPollMs: v.SIGHTLINE_RELOAD_POLL_MS!,
    predictionLog: {
      sampleRate: v.SIGHTLINE_PREDICTION_LOG_RATE!,
      embeddingRate: v.SIGHTLINE_PREDICTION_LOG_EMBEDDING_RATE!,
      bufferSize: v.SIGHTLINE_PREDICTION_LOG_BUFFER!,
      flushMs: v.SIGHTLINE_PREDICTION_LOG_FLUSH_MS!,
      // Validating and writing an event is synchronous work on the event loop: small events keep each pause short.
      maxRecordsPerEvent: 100,
    },
    adminToken: v.SIGHTLINE_ADMIN_TOKEN,
    corsOrigins: (v.SIGHTLINE_CORS_ORIGINS ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    drainSeconds: v.SIGHTLINE_DRAIN_SECONDS!,
    ...hostileInputBounds(v),
    // --- exposure, load shedding and authentication of the public port
    internalPort: internalPort(v),
    // Eight full batches: enough to keep the runner busy, little enough that a queued image still answers in time.
    maxQueuedImages: v.SIGHTLINE_BATCH_MAX_QUEUE!,
    metricsWorkerTimeoutMs: v.SIGHTLINE_METRICS_WORKER_TIMEOUT_MS!,
    auth: serveAuth(v),
    // --- request logs and client addresses
    requestLog: { sampleRate: v.SIGHTLINE_REQUEST_LOG_RATE!, slowMs: v.SIGHTLINE_SLOW_REQUEST_MS! },
    // None by default: X-Forwarded-For is whatever the client wrote unless a proxy we trust appended to it.
    trustedProxyHops: v.SIGHTLINE_TRUSTED_PROXY_HOPS!,
    vertex: vertexSettings(v),
    ...overrides,
  };
}

function hostileInputBounds(v: Variables): Pick<ServingConfig, "imageFormats" | "maxRequestPixels" | "decodes"> {
  let imageFormats: ImageFormat[];
  try {
    imageFormats = parseImageFormats(v.SIGHTLINE_IMAGE_FORMATS);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const maxPixels = v.SIGHTLINE_MAX_PIXELS!;
  return {
    imageFormats,
    // Four maximal images: on a 2 Gi pod, a request's decodes then stay in the hundreds of MB.
    maxRequestPixels: v.SIGHTLINE_MAX_REQUEST_PIXELS ?? 4 * maxPixels,
    // sharp runs each decode on one of libuv's 4 pool threads; more in flight only add memory, not throughput.
    decodes: { maxActive: v.SIGHTLINE_MAX_DECODES!, maxQueued: v.SIGHTLINE_DECODE_QUEUE! },
  };
}

// Vertex AI sends every request to AIP_HTTP_PORT and expects it honoured, so it wins over PORT (which the image sets).
const publicPort = (v: Variables): number => v.AIP_HTTP_PORT ?? v.PORT!;

function internalPort(v: Variables): number | undefined {
  const port = v.SIGHTLINE_INTERNAL_PORT;
  const name = v.AIP_HTTP_PORT !== undefined ? "AIP_HTTP_PORT" : "PORT";
  if (port !== undefined && port !== 0 && port === publicPort(v))
    throw new ConfigError(
      `SIGHTLINE_INTERNAL_PORT=${port} is ${name} too: the internal port must differ from the public one`,
    );
  return port;
}

// Compared as Express matches paths: case-insensitively, a trailing slash ignored.
const pathKey = (path: string): string => path.toLowerCase().replace(/\/+$/, "") || "/";
const OWN_PATHS = new Set(["/predict", "/health", "/ready", "/metrics", "/v2"]);
const isOwnPath = (path: string): boolean => OWN_PATHS.has(pathKey(path)) || /^\/(v2|admin)\//.test(pathKey(path));
const LIVENESS_PATHS = new Set(["/health", "/v2/health/live"]);
/** Readiness checks already served by healthRoutes / oipRoutes: nothing more to mount for them. */
const READINESS_PATHS: ReadonlySet<string> = new Set(["/ready", "/v2/health/ready"]);

function vertexSettings(v: Variables): VertexSettings {
  const predict = v.AIP_PREDICT_ROUTE;
  if (predict !== undefined && isOwnPath(predict)) {
    throw new ConfigError(
      `AIP_PREDICT_ROUTE=${JSON.stringify(predict)} is one of Sightline's own routes, which answer another shape; upload the model with --container-predict-route=${VERTEX_PREDICT_ROUTE}`,
    );
  }
  let health = v.AIP_HEALTH_ROUTE;
  if (health !== undefined && LIVENESS_PATHS.has(pathKey(health))) {
    throw new ConfigError(
      `AIP_HEALTH_ROUTE=${JSON.stringify(health)} is the liveness check, which answers 200 before a model is loaded; upload the model with --container-health-route=/ready`,
    );
  }
  if (health !== undefined && READINESS_PATHS.has(pathKey(health))) health = undefined;
  else if (health !== undefined && isOwnPath(health))
    throw new ConfigError(
      `AIP_HEALTH_ROUTE=${JSON.stringify(health)} is one of Sightline's own routes; upload the model with --container-health-route=/ready`,
    );
  const predictRoutes =
    predict === undefined || pathKey(predict) === VERTEX_PREDICT_ROUTE
      ? [VERTEX_PREDICT_ROUTE]
      : [VERTEX_PREDICT_ROUTE, predict];
  return { predictRoutes, healthRoute: health, deployedModelId: v.AIP_DEPLOYED_MODEL_ID ?? "" };
}

function serveAuth(v: Variables): ServeAuth {
  const mode = v.SIGHTLINE_SERVE_AUTH!;
  if (mode === "api-key") {
    if (!v.SIGHTLINE_SERVE_API_KEY_HASHES)
      throw new ConfigError(
        "SIGHTLINE_SERVE_AUTH=api-key needs SIGHTLINE_SERVE_API_KEY_HASHES (SHA-256 hashes of the keys, from a Secret)",
      );
    return { mode, keyHashes: v.SIGHTLINE_SERVE_API_KEY_HASHES };
  }
  if (mode === "google-id-token") {
    if (!v.SIGHTLINE_SERVE_AUDIENCE)
      throw new ConfigError(
        "SIGHTLINE_SERVE_AUTH=google-id-token needs SIGHTLINE_SERVE_AUDIENCE (the audience callers request their ID token for)",
      );
    return { mode, audience: v.SIGHTLINE_SERVE_AUDIENCE, jwksUrl: v.SIGHTLINE_GOOGLE_JWKS_URL! };
  }
  return { mode };
}

export const refText = (ref: ServedRef): string =>
  "version" in ref ? `${ref.name}:${ref.version}` : `${ref.name}@${ref.alias}`;
