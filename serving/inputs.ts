import busboy from "busboy";
import type { IncomingMessage } from "node:http";
import type { Request } from "express";
import { z } from "zod";
import { ApiError, briefIssues } from "./errors.ts";

export interface InputLimits {
  maxBodyBytes: number;
  maxImages: number;
}

/** Media types of a raw image body (the format itself is told by its magic bytes). */
export const IMAGE_TYPES: ReadonlySet<string> = new Set([
  "image/png",
  "image/jpeg",
  "image/webp",
  "application/octet-stream",
]);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const InstanceSchema = z.object({ b64: z.string().min(1, "b64 is empty") }).strict();
const INSTANCES_SHAPE = 'JSON body must be {"instances":[{"b64":"…"}]}';

// Multipart text fields are not used; each is held in memory whole until busboy hands it over, so keep them small.
const MAX_FIELD_BYTES = 16 * 1024;
const MAX_FIELDS = 16;

export const mediaType = (req: Pick<IncomingMessage, "headers">): string =>
  (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();

/**
 * The images of a POST /predict request, in order: a raw image body, the `file` parts of a multipart form, or
 * JSON `{"instances":[{"b64":…}]}`. The JSON body has been parsed by express.json already (it is one value).
 */
export async function readImages(req: Request, limits: InputLimits): Promise<Uint8Array[]> {
  const type = mediaType(req);
  if (type === "multipart/form-data") return readMultipart(req, limits);
  if (type === "application/json") return readInstances(req.body, limits);
  if (IMAGE_TYPES.has(type)) {
    const body: unknown = req.body;
    if (!Buffer.isBuffer(body) || body.length === 0)
      throw new ApiError("bad_request", "the request body is empty; send the image bytes");
    return [body];
  }
  throw new ApiError(
    "unsupported_media_type",
    `content type ${JSON.stringify(type || "(none)")} is not accepted; send image/png, image/jpeg, image/webp, multipart/form-data with file parts, or application/json with instances`,
  );
}

function readInstances(body: unknown, limits: InputLimits): Uint8Array[] {
  const list = instanceList(body, limits.maxImages, INSTANCES_SHAPE);
  const parsed = z.array(InstanceSchema).safeParse(list);
  if (!parsed.success) throw new ApiError("bad_request", `${INSTANCES_SHAPE}: ${briefIssues(parsed.error)}`);
  return parsed.data.map(({ b64 }, i) => decodeBase64(b64, `instances[${i}].b64`));
}

/**
 * The `instances` array of a JSON body, its count checked before any element: validating a million bad elements
 * costs seconds of event loop and an error listing each of them. `shape` opens the error messages.
 */
export function instanceList(body: unknown, maxImages: number, shape: string): unknown[] {
  const list =
    typeof body === "object" && body !== null && !Array.isArray(body)
      ? (body as Record<string, unknown>).instances
      : undefined;
  if (!Array.isArray(list)) throw new ApiError("bad_request", `${shape}: instances must be an array`);
  if (list.length === 0) throw new ApiError("bad_request", `${shape}: instances is empty`);
  if (list.length > maxImages)
    throw new ApiError("payload_too_large", `${list.length} instances; at most ${maxImages} per request`);
  return list;
}

/** Strict base64 (standard or URL-safe alphabet, whitespace ignored) to bytes; `field` names it in the error. */
export function decodeBase64(text: string, field: string): Buffer {
  // Buffer.from(…, "base64") skips invalid characters silently; a typo must be an error, not a different image.
  const clean = text.replace(/\s+/g, "");
  if (clean.length % 4 === 1 || !BASE64.test(clean.replace(/-/g, "+").replace(/_/g, "/")))
    throw new ApiError("bad_request", `${field} is not valid base64`);
  const bytes = Buffer.from(clean, "base64");
  if (bytes.length === 0) throw new ApiError("bad_request", `${field} decodes to nothing`);
  return bytes;
}

function readMultipart(req: Request, limits: InputLimits): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: {
          fileSize: limits.maxBodyBytes + 1,
          files: limits.maxImages,
          fields: MAX_FIELDS,
          fieldSize: Math.min(MAX_FIELD_BYTES, limits.maxBodyBytes),
          parts: limits.maxImages + MAX_FIELDS,
        },
      });
    } catch (err) {
      reject(new ApiError("bad_request", `multipart body: ${(err as Error).message}`));
      return;
    }
    const files: Promise<Buffer>[] = [];
    let total = 0;
    let failure: ApiError | undefined;
    const fail = (err: ApiError): void => {
      failure ??= err;
      req.unpipe(parser);
      req.resume();
      reject(failure);
    };
    parser.on("file", (field, stream) => {
      if (field !== "file") {
        stream.resume();
        return fail(
          new ApiError(
            "bad_request",
            `unexpected multipart file field ${JSON.stringify(field)}; name each image part "file"`,
          ),
        );
      }
      files.push(
        new Promise((ok) => {
          const chunks: Buffer[] = [];
          stream.on("data", (c: Buffer) => {
            total += c.length;
            if (total > limits.maxBodyBytes)
              return fail(
                new ApiError("payload_too_large", `the multipart parts exceed ${limits.maxBodyBytes} bytes together`),
              );
            chunks.push(c);
          });
          stream.on("limit", () =>
            fail(new ApiError("payload_too_large", `a file part exceeds ${limits.maxBodyBytes} bytes`)),
          );
          stream.on("close", () => {
            ok(Buffer.concat(chunks));
            // 'close' is a stream's last event; see the parser's below.
            stream.removeAllListeners();
          });
        }),
      );
    });
    // Text fields count towards the body limit like files do.
    parser.on("field", (name, value, info) => {
      if (info.valueTruncated)
        return fail(
          new ApiError(
            "payload_too_large",
            `multipart field ${JSON.stringify(name.slice(0, 64))} exceeds ${Math.min(MAX_FIELD_BYTES, limits.maxBodyBytes)} bytes`,
          ),
        );
      total += Buffer.byteLength(name) + Buffer.byteLength(value);
      if (total > limits.maxBodyBytes)
        fail(new ApiError("payload_too_large", `the multipart parts exceed ${limits.maxBodyBytes} bytes together`));
    });
    parser.on("fieldsLimit", () =>
      fail(new ApiError("payload_too_large", `more than ${MAX_FIELDS} multipart text fields`)),
    );
    parser.on("filesLimit", () =>
      fail(
        new ApiError(
          "payload_too_large",
          `more than ${limits.maxImages} files; at most ${limits.maxImages} per request`,
        ),
      ),
    );
    parser.on("partsLimit", () => fail(new ApiError("payload_too_large", "too many multipart parts")));
    parser.on("error", (err: Error) => fail(new ApiError("bad_request", `multipart body: ${err.message}`)));
    parser.on("close", () => {
      // 'close' is the parser's last event. Our listeners hold the request (and through it the whole request's
      // objects); left on a finished parser they kept each request alive past a scavenge or two, until a full
      // collection: 6 MB surviving every scavenge instead of 1.5 (bench:alloc, docs/experiments.md).
      parser.removeAllListeners();
      if (failure) return;
      void Promise.all(files).then((buffers) => {
        if (failure) return;
        if (buffers.length === 0) return fail(new ApiError("bad_request", 'multipart body has no "file" part'));
        const empty = buffers.findIndex((b) => b.length === 0);
        if (empty >= 0) return fail(new ApiError("bad_request", `file part ${empty} is empty`));
        resolve(buffers);
      });
    });
    req.pipe(parser);
  });
}
