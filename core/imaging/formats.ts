import sharp from "sharp";
import { z } from "zod";
import { SightlineError } from "../errors.ts";
import { SIGHTLINE_IMAGE_FORMATS } from "../config/settings/serving.ts";

/**
 * The image formats Sightline decodes, by what the bytes are (magic numbers), never by what a Content-Type or a
 * file name claims. libvips can load many more (SVG, TIFF, GIF, PDF, HEIF, …); each is attack surface, and some
 * (SVG filters) cost unbounded CPU from a few bytes. Only the allowed formats' loaders stay unblocked in sharp, so
 * no code path in this process can reach the others, even one that forgets to sniff.
 */
export const IMAGE_FORMATS = ["png", "jpeg", "webp", "gif", "tiff"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export const DEFAULT_IMAGE_FORMATS: readonly ImageFormat[] = ["png", "jpeg", "webp"];

/** libvips loader classes per format; unblocking a class unblocks its file/buffer/source subclasses. */
const LOADERS: Record<ImageFormat, string[]> = {
  png: ["VipsForeignLoadPng"],
  jpeg: ["VipsForeignLoadJpeg"],
  webp: ["VipsForeignLoadWebp"],
  gif: ["VipsForeignLoadNsgif"],
  tiff: ["VipsForeignLoadTiff"],
};

const FormatsSchema = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((f) => f.trim().toLowerCase())
      .filter(Boolean),
  )
  .pipe(z.array(z.enum(IMAGE_FORMATS)).min(1, "name at least one format"));

/** SIGHTLINE_IMAGE_FORMATS: comma-separated formats to decode (default png,jpeg,webp). */
export function parseImageFormats(raw: string | undefined): ImageFormat[] {
  if (raw === undefined || raw.trim() === "") return [...DEFAULT_IMAGE_FORMATS];
  const parsed = FormatsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new SightlineError(
      "config",
      "image_formats_invalid",
      `SIGHTLINE_IMAGE_FORMATS=${JSON.stringify(raw)}: ${parsed.error.issues.map((i) => i.message).join("; ")} (known: ${IMAGE_FORMATS.join(", ")})`,
    );
  }
  return [...new Set(parsed.data)];
}

/** Formats libvips may load that are never decoded here: recognised only to answer "not accepted" (415). */
export type RefusedFormat = "svg" | "pdf" | "heif" | "jp2" | "bmp" | "psd";

/** The format the bytes start with, or undefined when they are no image format known here. */
export function sniffImageFormat(data: Uint8Array): ImageFormat | RefusedFormat | undefined {
  const at = (offset: number, bytes: number[]): boolean =>
    data.length >= offset + bytes.length && bytes.every((b, i) => data[offset + i] === b);
  const ascii = (offset: number, text: string): boolean =>
    at(
      offset,
      [...text].map((c) => c.charCodeAt(0)),
    );
  if (at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "png";
  if (at(0, [0xff, 0xd8, 0xff])) return "jpeg";
  // RIFF <size> WEBP
  if (at(0, [0x52, 0x49, 0x46, 0x46]) && at(8, [0x57, 0x45, 0x42, 0x50])) return "webp";
  if (at(0, [0x47, 0x49, 0x46, 0x38])) return "gif";
  if (at(0, [0x49, 0x49, 0x2a, 0x00]) || at(0, [0x4d, 0x4d, 0x00, 0x2a])) return "tiff";
  if (ascii(0, "%PDF")) return "pdf";
  if (ascii(4, "ftyp")) return "heif";
  if (at(0, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || at(0, [0xff, 0x4f, 0xff, 0x51])) return "jp2";
  if (ascii(0, "BM")) return "bmp";
  if (ascii(0, "8BPS")) return "psd";
  if (looksLikeSvg(data)) return "svg";
  return undefined;
}

/** XML or an <svg> element after optional BOM and whitespace (libvips sniffs SVG about this loosely). */
function looksLikeSvg(data: Uint8Array): boolean {
  const head = Buffer.from(data.subarray(0, 1024))
    .toString("utf8")
    .replace(/^\uFEFF/, "")
    .trimStart()
    .toLowerCase();
  return head.startsWith("<?xml") || head.startsWith("<svg") || (head.startsWith("<") && head.includes("<svg"));
}

/**
 * Bytes that are not an allowed format: `format` names the format they are (serving answers 415), or is undefined
 * when they are no known image format (400, like any undecodable image).
 */
export class UnsupportedImageFormatError extends SightlineError {
  readonly format: ImageFormat | RefusedFormat | undefined;
  readonly allowed: readonly ImageFormat[];

  constructor(format: ImageFormat | RefusedFormat | undefined, allowed: readonly ImageFormat[]) {
    super(
      "invalid",
      format === undefined ? "unknown_image_format" : "unsupported_image_format",
      `${format === undefined ? "the bytes are not a known image format" : `${format.toUpperCase()} images are not accepted`}; send ${allowed.map((f) => f.toUpperCase()).join(", ")}`,
    );
    this.format = format;
    this.allowed = [...allowed];
  }
}

let allowed: ImageFormat[] | undefined;

/**
 * Sets the formats this process decodes and blocks every other libvips loader (process-wide, and in the image
 * pool's children, which read the same environment). Called with no argument, applies SIGHTLINE_IMAGE_FORMATS.
 */
export function allowImageFormats(
  formats: readonly ImageFormat[] = parseImageFormats(SIGHTLINE_IMAGE_FORMATS.read()),
): ImageFormat[] {
  sharp.block({ operation: ["VipsForeignLoad"] });
  sharp.unblock({ operation: formats.flatMap((f) => LOADERS[f]) });
  allowed = [...formats];
  return allowed;
}

/** The formats this process decodes (applying SIGHTLINE_IMAGE_FORMATS and the sharp block on first use). */
export function allowedImageFormats(): readonly ImageFormat[] {
  return allowed ?? allowImageFormats();
}

/** The bytes' format when it is allowed; throws UnsupportedImageFormatError otherwise. Call before any decode. */
export function checkImageFormat(data: Uint8Array): ImageFormat {
  const formats = allowedImageFormats();
  const format = sniffImageFormat(data);
  if (format === undefined || !(formats as readonly string[]).includes(format))
    throw new UnsupportedImageFormatError(format, formats);
  return format as ImageFormat;
}
