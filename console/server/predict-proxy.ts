import busboy from "busboy";
import type { Request } from "express";
import { SightlineError, type ErrorKind } from "../../core/errors.ts";
import type { Logger } from "../../core/telemetry/logger.ts";
import { ServingAnswer } from "../api/predict-schemas.ts";

/** Where the Predict page's images go, and the limits the console applies before and while forwarding them. */
export interface PredictSettings {
  /** The inference API's base URL (its `POST /predict` is under it); undefined: the page says how to set it. */
  servingUrl?: string;
  /** Sent as `Authorization: Bearer …` when serving checks API keys; it stays on this server. */
  apiKey?: string;
  maxBytes: number;
  timeoutMs: number;
}

/**
 * A refusal of the Predict route with its own HTTP status: the console's checks (413, 415, 503 unconfigured) and
 * the inference API's answers passed through. Its message is for the person at the page, so it is sent as it is,
 * even for a 5xx (the console's generic handler hides those).
 */
export class PredictError extends SightlineError {
  readonly status: number;
  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(kindOf(status), code, message, options);
    this.status = status;
  }
}

const kindOf = (status: number): ErrorKind =>
  status === 404 ? "not_found" : status === 409 ? "conflict" : status >= 500 ? "unavailable" : "invalid";

// Image types the inference API takes as a raw body; anything else that calls itself an image goes as
// application/octet-stream and serving decides by its magic bytes (415 for a format it refuses).
const RAW_TYPES = new Set(["image/png", "image/jpeg", "image/webp"]);
// Boundaries, part headers and a filename around the file: generous, and still a bound.
const MULTIPART_OVERHEAD = 16 * 1024;

export type Upload = { bytes: Buffer; type: string; name: string };

/** The one `file` part of a multipart form, refused (413) past `maxBytes` before anything is forwarded. */
export function readUpload(req: Request, maxBytes: number): Promise<Upload> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes + MULTIPART_OVERHEAD) return Promise.reject(tooLarge(maxBytes));
  if (!/^multipart\/form-data\b/i.test(req.headers["content-type"] ?? ""))
    return Promise.reject(
      new PredictError(415, "multipart_expected", 'send the image as multipart/form-data, in a part named "file"'),
    );
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { files: 1, fileSize: maxBytes, fields: 4, fieldSize: 1024 } });
    } catch (err) {
      reject(new PredictError(400, "multipart_invalid", `multipart body: ${(err as Error).message}`));
      return;
    }
    let failure: PredictError | undefined;
    let upload: Upload | undefined;
    let reading: Promise<void> = Promise.resolve();
    // Stop storing, but read the rest: a browser still sending its body when the answer comes sees a reset.
    const fail = (err: PredictError): void => {
      failure ??= err;
    };
    parser.on("file", (field, stream, info) => {
      if (field !== "file" || failure) {
        stream.resume();
        if (field !== "file")
          fail(new PredictError(400, "multipart_field", `name the image part "file", not "${field}"`));
        return;
      }
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => void (failure ? undefined : chunks.push(c)));
      stream.on("limit", () => fail(tooLarge(maxBytes)));
      reading = new Promise((done) =>
        stream.on("close", () => {
          upload = { bytes: Buffer.concat(chunks), type: info.mimeType.toLowerCase(), name: info.filename ?? "" };
          done();
        }),
      );
    });
    parser.on("filesLimit", () => fail(new PredictError(400, "one_image", "send one image at a time")));
    parser.on("error", (err: Error) =>
      fail(new PredictError(400, "multipart_invalid", `multipart body: ${err.message}`)),
    );
    parser.on(
      "close",
      () =>
        void reading.then(() => {
          if (failure) return reject(failure);
          if (!upload) return reject(new PredictError(400, "file_missing", 'the form has no "file" part'));
          if (upload.bytes.length === 0) return reject(new PredictError(400, "file_empty", "the file is empty"));
          // The browser's type comes from the file's name; serving still checks the bytes themselves.
          if (!upload.type.startsWith("image/") && upload.type !== "application/octet-stream")
            return reject(
              new PredictError(
                415,
                "not_an_image",
                `${upload.name || "the file"} is not an image (${upload.type}); choose a PNG, JPEG or WebP file`,
              ),
            );
          resolve(upload);
        }),
    );
    // A client that goes away mid-upload: busboy never closes, so the request must not wait for it.
    req.once("close", () => {
      if (!req.complete) reject(new PredictError(400, "upload_interrupted", "the upload was interrupted"));
    });
    req.pipe(parser);
  });
}

const tooLarge = (maxBytes: number): PredictError =>
  new PredictError(
    413,
    "image_too_large",
    `the image is larger than ${formatBytes(maxBytes)}, the console's limit (SIGHTLINE_CONSOLE_PREDICT_MAX_BYTES)`,
  );

export const formatBytes = (n: number): string =>
  n >= 1024 * 1024 ? `${+(n / 1024 / 1024).toFixed(1)} MB` : n >= 1024 ? `${+(n / 1024).toFixed(1)} KB` : `${n} bytes`;

/** `base` + `/predict`, keeping a path prefix the base may have (a gateway's route). */
export const predictUrl = (base: string): URL => new URL("predict", base.endsWith("/") ? base : `${base}/`);

/** The inference API's error message, from its `{"error":{"code","message"}}` (or OIP's `{"error":"…"}`). */
function servingError(text: string): { code?: string; message?: string } {
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === "string") return { message: body.error };
    if (typeof body.error === "object" && body.error !== null) {
      const e = body.error as { code?: unknown; message?: unknown };
      return {
        ...(typeof e.code === "string" ? { code: e.code } : {}),
        ...(typeof e.message === "string" ? { message: e.message } : {}),
      };
    }
  } catch {
    // Not JSON (a proxy's HTML page): the status says enough.
  }
  return {};
}

/** Sends one image to the inference API and returns its answer, or throws what went wrong in words for the page. */
export async function forward(settings: PredictSettings & { servingUrl: string }, upload: Upload, log: Logger) {
  const where = settings.servingUrl;
  const started = performance.now();
  let res: Response;
  try {
    res = await fetch(predictUrl(where), {
      method: "POST",
      body: new Uint8Array(upload.bytes),
      headers: {
        "content-type": RAW_TYPES.has(upload.type) ? upload.type : "application/octet-stream",
        accept: "application/json",
        ...(settings.apiKey ? { authorization: `Bearer ${settings.apiKey}` } : {}),
      },
      redirect: "error",
      signal: AbortSignal.timeout(settings.timeoutMs),
    });
  } catch (err) {
    if ((err as Error).name === "TimeoutError")
      throw new PredictError(
        504,
        "serving_timeout",
        `the serving API at ${where} did not answer within ${settings.timeoutMs / 1000} s`,
        { cause: err },
      );
    const cause = (err as { cause?: { code?: unknown } }).cause?.code;
    log.warn("the serving API is unreachable", { servingUrl: where, err });
    throw new PredictError(
      503,
      "serving_unreachable",
      `serving API unreachable at ${where}${typeof cause === "string" ? ` (${cause})` : ""}: is it running?`,
      { cause: err },
    );
  }
  const text = await res.text();
  const millis = performance.now() - started;
  if (res.ok) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const answer = ServingAnswer.safeParse(body);
    if (!answer.success)
      throw new PredictError(
        502,
        "serving_answer_invalid",
        `the serving API at ${where} answered something else than a prediction`,
      );
    return { answer: answer.data, millis };
  }
  const e = servingError(text);
  const said = e.message ? `: ${e.message}` : "";
  if (res.status === 401 || res.status === 403)
    throw new PredictError(
      502,
      "serving_unauthorized",
      `the serving API at ${where} refused the console's credentials (${res.status}${said}); set SIGHTLINE_CONSOLE_SERVING_API_KEY`,
    );
  // The inference API's own refusals (400 undecodable, 413, 415, 422, 503 not ready) reach the page as they are;
  // its failures are a bad gateway here.
  const status = res.status >= 500 && res.status !== 503 && res.status !== 504 ? 502 : res.status;
  throw new PredictError(status, e.code ?? `serving_${res.status}`, `the serving API answered ${res.status}${said}`);
}
