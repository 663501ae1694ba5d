import type { ModelInput } from "../data-plane.ts";
import { ApiError } from "../errors.ts";
import { decodeBase64 } from "../inputs.ts";
import type { LoadedModel } from "../loaded-model.ts";
import { readBytesElements, readFloat32LE } from "./binary.ts";
import type { RequestInput } from "./schemas.ts";

export interface TensorLimits {
  maxImages: number;
  /** Encoded image bytes per request, as for /predict. */
  maxImageBytes: number;
}

/**
 * The data plane's input from the one OIP input tensor, checked against the leased model: FP32 is the model's own
 * input, preprocessed by the client, shape [N, …one image's shape]; BYTES is N encoded images (PNG, JPEG, WebP),
 * shape [N] or [N, 1], preprocessed here exactly as /predict does. In JSON a BYTES element is a string, so it
 * carries the image base64-encoded; with the binary extension it carries the image's raw bytes. `binary` is the
 * input's bytes when it came through the binary extension.
 */
export function toModelInput(
  t: RequestInput,
  binary: Buffer | undefined,
  model: LoadedModel,
  limits: TensorLimits,
): ModelInput {
  const expectedName = model.card.onnx.input;
  if (t.name !== expectedName)
    throw new ApiError(
      "invalid_tensor",
      `input is named ${JSON.stringify(t.name)}; the model's input is ${JSON.stringify(expectedName)}`,
    );
  if (t.datatype === "FP32") return { kind: "tensors", tensors: fp32Images(t, binary, model, limits) };
  if (t.datatype === "BYTES") return { kind: "images", images: encodedImages(t, binary, limits) };
  throw new ApiError(
    "invalid_tensor",
    `datatype ${t.datatype} is not supported; send FP32 (preprocessed as the model card says) or BYTES (encoded images)`,
  );
}

function fp32Images(
  t: RequestInput,
  binary: Buffer | undefined,
  model: LoadedModel,
  limits: TensorLimits,
): Float32Array[] {
  const dims = model.inputShape;
  const { shape } = t;
  if (shape.length !== 4 || dims.some((d, i) => shape[i + 1] !== d) || shape[0]! < 1) {
    throw new ApiError(
      "invalid_tensor",
      `shape [${shape.join(", ")}] does not fit the model's [N, ${dims.join(", ")}] (N ≥ 1)`,
    );
  }
  const n = shape[0]!;
  if (n > limits.maxImages)
    throw new ApiError("payload_too_large", `${n} images; at most ${limits.maxImages} per request`);
  const size = model.inputSize;
  let values: Float32Array;
  if (binary) {
    if (binary.length !== n * size * 4)
      throw new ApiError(
        "invalid_tensor",
        `binary FP32 data is ${binary.length} bytes; shape [${shape.join(", ")}] needs ${n * size * 4}`,
      );
    values = readFloat32LE(binary);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new ApiError("invalid_tensor", `data[${bad}] is ${values[bad]}, not a finite number`);
  } else {
    values = new Float32Array(n * size);
    walkData(t.data ?? [], shape, n * size, (v, i) => {
      if (typeof v !== "number" || !Number.isFinite(v))
        throw new ApiError("invalid_tensor", `data[${i}] is ${describe(v)}, not a finite number`);
      values[i] = v;
    });
  }
  return Array.from({ length: n }, (_, i) => values.subarray(i * size, (i + 1) * size));
}

function encodedImages(t: RequestInput, binary: Buffer | undefined, limits: TensorLimits): Buffer[] {
  const { shape } = t;
  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1)) || shape[0]! < 1) {
    throw new ApiError(
      "invalid_tensor",
      `a BYTES input is one encoded image per element: shape [N] or [N, 1] (N ≥ 1); got [${shape.join(", ")}]`,
    );
  }
  const n = shape[0]!;
  if (n > limits.maxImages)
    throw new ApiError("payload_too_large", `${n} images; at most ${limits.maxImages} per request`);
  let images: Buffer[];
  if (binary) {
    images = readBytesElements(binary, `input ${t.name}`);
    if (images.length !== n)
      throw new ApiError(
        "invalid_tensor",
        `binary BYTES data has ${images.length} elements; shape [${shape.join(", ")}] needs ${n}`,
      );
  } else {
    const strings: string[] = [];
    walkData(t.data ?? [], shape, n, (v, i) => {
      if (typeof v !== "string")
        throw new ApiError(
          "invalid_tensor",
          `data[${i}] is ${describe(v)}; a BYTES element in JSON is a base64-encoded image string`,
        );
      strings.push(v);
    });
    images = strings.map((s, i) => decodeBase64(s, `data[${i}]`));
  }
  const total = images.reduce((a, b) => a + b.length, 0);
  if (total > limits.maxImageBytes)
    throw new ApiError("payload_too_large", `the images are ${total} bytes together; at most ${limits.maxImageBytes}`);
  const empty = images.findIndex((b) => b.length === 0);
  if (empty >= 0) throw new ApiError("bad_request", `image ${empty} is empty`);
  return images;
}

/**
 * Visits the tensor's elements row-major: `data` flat or nested at most the shape's rank deep (OIP allows both).
 * Walked with an explicit stack and stopped at the first surplus value, so neither depth nor length can cost more
 * than the expected tensor.
 */
function walkData(
  data: unknown[],
  shape: number[],
  expected: number,
  visit: (value: unknown, index: number) => void,
): void {
  const rank = shape.length;
  let count = 0;
  const stack: { items: unknown[]; next: number }[] = [{ items: data, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next >= top.items.length) {
      stack.pop();
      continue;
    }
    const v = top.items[top.next++];
    if (Array.isArray(v)) {
      if (stack.length >= rank)
        throw new ApiError("bad_request", `data nests deeper than the shape's ${rank} dimensions`);
      stack.push({ items: v, next: 0 });
      continue;
    }
    if (count >= expected)
      throw new ApiError(
        "invalid_tensor",
        `data has more than ${expected} values; shape [${shape.join(", ")}] needs ${expected}`,
      );
    visit(v, count++);
  }
  if (count !== expected)
    throw new ApiError("invalid_tensor", `data has ${count} values; shape [${shape.join(", ")}] needs ${expected}`);
}

/** A short description of a JSON value for an error message (never the value itself: it may be huge or deep). */
function describe(v: unknown): string {
  if (typeof v === "string") return v.length > 32 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (v === null || typeof v === "boolean") return String(v);
  return typeof v === "object" ? "an object" : typeof v;
}
