/**
 * ONNX export (trainer/onnx/export.ts) for both architectures:
 * - parity: onnxruntime-node against tfjs (CPU backend) on 120 real Fashion-MNIST images from data/sample/test, for
 *   `probabilities` and `embedding`; weights are seeded but non-trivial (random biases, BN gamma/beta/moving
 *   statistics), so a BN, padding or flatten-order mistake shows as a large difference; a negative control shows a
 *   small weight change is caught;
 * - `onnx.checker.check_model(full_check=True)` and strict shape inference, by Debian's python3-onnx in a child
 *   process (skipped with a printed reason when python3-onnx is missing, failed instead when CI=true);
 * - metadata_props round-trip, symbolic batch (1 and 37), and refusal of an unknown layer type.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import "@tensorflow/tfjs-backend-cpu";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import sharp from "sharp";
import { buildModel, EMBEDDING_LAYER } from "../../trainer/model.ts";
import type { Architecture } from "../../trainer/model.ts";
import { exportOnnx, ONNX_IR_VERSION, ONNX_OPSET, OnnxExportError } from "../../trainer/onnx/export.ts";

const PYTHON = "/usr/bin/python3";
const SAMPLE = join(import.meta.dirname, "../../data/sample/test");
const SIZE = 28;
const CLASSES = 10;
const PER_CLASS = 12; // 10 classes × 12 = 120 images
const TOLERANCE = 1e-4;

const METADATA: Record<string, string> = {
  "sightline.dataset_id": "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
  "sightline.run_id": "run-2026-11-01T12:00:00Z-7",
  "sightline.git_commit": "1234567890abcdef1234567890abcdef12345678",
  "sightline.config_hash": "sha256:abc",
  "sightline.trainer_image": "europe-docker.pkg.dev/p/sightline/trainer@sha256:def",
  "sightline.labels": JSON.stringify(["ankle-boot", "bag", "coat"]),
  "sightline.preprocessing": JSON.stringify({ width: 28, height: 28, channels: 1, scale: 1 / 255 }),
  "unicode ✓": "grüße, 世界",
  empty: "",
};

const pythonOnnx = spawnSync(PYTHON, ["-c", "import onnx; print(onnx.__version__)"], { encoding: "utf8" });
const onnxVersion = pythonOnnx.status === 0 ? pythonOnnx.stdout.trim() : null;
const onCi = process.env.CI === "true";
if (onnxVersion === null && !onCi) {
  console.warn(
    `skipping the onnx.checker tests: ${PYTHON} cannot import onnx (install python3-onnx): ${pythonOnnx.stderr ?? pythonOnnx.error?.message}`,
  );
}
/** Runs when python3-onnx is importable; on CI it always runs (and fails when python3-onnx is missing). */
const itWithPythonOnnx = onnxVersion !== null || onCi ? it : it.skip;

interface Images {
  data: Float32Array;
  count: number;
}

/** Reads the first PER_CLASS PNGs of every class as 28×28 grayscale floats in [0, 1]. */
async function loadImages(): Promise<Images> {
  const files = readdirSync(SAMPLE)
    .sort()
    .flatMap((label) =>
      readdirSync(join(SAMPLE, label))
        .filter((name) => name.endsWith(".png"))
        .sort()
        .slice(0, PER_CLASS)
        .map((name) => join(SAMPLE, label, name)),
    );
  const data = new Float32Array(files.length * SIZE * SIZE);
  await Promise.all(
    files.map(async (file, index) => {
      const { data: pixels, info } = await sharp(file).toColourspace("b-w").raw().toBuffer({ resolveWithObject: true });
      if (info.width !== SIZE || info.height !== SIZE || info.channels !== 1) {
        throw new Error(`${file}: ${info.width}×${info.height}×${info.channels}, expected ${SIZE}×${SIZE}×1`);
      }
      for (let i = 0; i < pixels.length; i += 1) data[index * SIZE * SIZE + i] = (pixels[i] ?? 0) / 255;
    }),
  );
  return { data, count: files.length };
}

/** Deterministic uniform [lo, hi) values (mulberry32). */
function uniform(size: number, seed: number, lo: number, hi: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i += 1) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (((t ^ (t >>> 14)) >>> 0) / 4294967296) * (hi - lo);
  }
  return out;
}

/**
 * Gives every bias, batch-norm gamma and beta a seeded non-trivial value (kernels keep their seeded Glorot values):
 * zero biases, unit gamma and zero beta would hide a swapped or dropped parameter. The moving statistics come from
 * `calibrateBatchNorm`.
 */
function perturb(model: tfl.LayersModel, seed: number): void {
  const ranges: Record<string, [number, number]> = {
    bias: [-0.2, 0.2],
    gamma: [0.5, 1.5],
    beta: [-0.3, 0.3],
  };
  model.layers.forEach((layer, layerIndex) => {
    const current = layer.getWeights();
    const next = layer.weights.map((variable, index) => {
      const tensor = current[index];
      if (tensor === undefined) throw new Error(`${variable.name}: no value`);
      const range = ranges[variable.originalName.split("/").pop() ?? ""];
      if (range === undefined) return tensor;
      return tf.tensor(uniform(tensor.size, seed * 100 + layerIndex * 10 + index, range[0], range[1]), tensor.shape);
    });
    if (next.length > 0) layer.setWeights(next);
  });
}

/**
 * Sets each batch-norm layer's moving statistics to its input's statistics over the first 40 images, shifted by up to 0.2
 * standard deviations and scaled by 0.7–1.4 (seeded): what training leaves behind. With arbitrary statistics the
 * normalised activations are dominated by per-unit offsets and an untrained model gives every image the same class.
 */
function calibrateBatchNorm(model: tfl.LayersModel, images: Images, seed: number): void {
  const count = Math.min(images.count, 40);
  const x = tf.tensor4d(images.data.subarray(0, count * SIZE * SIZE), [count, SIZE, SIZE, 1]);
  model.layers.forEach((layer, layerIndex) => {
    if (layer.getClassName() !== "BatchNormalization") return;
    const input = tfl.model({ inputs: model.inputs, outputs: layer.input as tfl.SymbolicTensor });
    const next = tf.tidy(() => {
      const activations = input.predict(x) as tf.Tensor;
      const { mean, variance } = tf.moments(activations, [...Array(activations.rank - 1).keys()]);
      const channels = mean.size;
      const shift = tf.mul(tf.sqrt(variance), tf.tensor1d(uniform(channels, seed * 100 + layerIndex, -0.2, 0.2)));
      const scale = tf.tensor1d(uniform(channels, seed * 100 + layerIndex + 50, 0.7, 1.4));
      const current = layer.getWeights();
      return layer.weights.map((variable, index) => {
        const name = variable.originalName.split("/").pop();
        if (name === "moving_mean") return tf.add(mean, shift);
        if (name === "moving_variance") return tf.mul(variance, scale);
        return tf.clone(current[index] as tf.Tensor);
      });
    });
    layer.setWeights(next);
    tf.dispose(next);
  });
  x.dispose();
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i += 1) max = Math.max(max, Math.abs((a[i] ?? NaN) - (b[i] ?? NaN)));
  return max;
}

function argmaxRows(values: Float32Array, columns: number): number[] {
  const rows: number[] = [];
  for (let row = 0; row < values.length / columns; row += 1) {
    let best = 0;
    for (let c = 1; c < columns; c += 1)
      if ((values[row * columns + c] ?? -Infinity) > (values[row * columns + best] ?? -Infinity)) best = c;
    rows.push(best);
  }
  return rows;
}

async function runOnnx(
  bytes: Uint8Array,
  images: Float32Array,
  count: number,
): Promise<{ probabilities: ort.Tensor; embedding: ort.Tensor }> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const result = await session.run({
      input: new ort.Tensor("float32", images.subarray(0, count * SIZE * SIZE), [count, SIZE, SIZE, 1]),
    });
    const probabilities = result.probabilities;
    const embedding = result.embedding;
    if (probabilities === undefined || embedding === undefined)
      throw new Error(`missing outputs: ${Object.keys(result).join(", ")}`);
    return { probabilities, embedding };
  } finally {
    await session.release();
  }
}

function tfjsOutputs(model: tfl.LayersModel, images: Images): { probabilities: Float32Array; embedding: Float32Array } {
  const embeddingModel = tfl.model({
    inputs: model.inputs,
    outputs: model.getLayer(EMBEDDING_LAYER).output as tfl.SymbolicTensor,
  });
  return tf.tidy(() => {
    const x = tf.tensor4d(images.data, [images.count, SIZE, SIZE, 1]);
    return {
      probabilities: (model.predict(x) as tf.Tensor).dataSync() as Float32Array,
      embedding: (embeddingModel.predict(x) as tf.Tensor).dataSync() as Float32Array,
    };
  });
}

interface CheckerReport {
  ir_version: number;
  opsets: Record<string, number>;
  producer: string;
  metadata: Record<string, string>;
  declared: Record<string, (string | number)[]>;
  inferred: Record<string, (string | number)[]>;
}

/** check_model(full_check=True), then strict shape inference on the model and on a copy without output shapes. */
const CHECKER = `
import json, sys
import onnx
from onnx import shape_inference

def dims(value):
    shape = value.type.tensor_type.shape
    return [d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else None) for d in shape.dim]

model = onnx.load(sys.argv[1])
onnx.checker.check_model(model, full_check=True)
shape_inference.infer_shapes(model, check_type=True, strict_mode=True)  # raises if inference contradicts a declared shape
stripped = onnx.ModelProto()
stripped.CopyFrom(model)
for output in stripped.graph.output:
    output.type.tensor_type.ClearField("shape")
inferred = shape_inference.infer_shapes(stripped, check_type=True, strict_mode=True)
print(json.dumps({
    "ir_version": model.ir_version,
    "opsets": {o.domain: o.version for o in model.opset_import},
    "producer": model.producer_name,
    "metadata": {p.key: p.value for p in model.metadata_props},
    "declared": {o.name: dims(o) for o in model.graph.output},
    "inferred": {o.name: dims(o) for o in inferred.graph.output},
}))
`;

let images: Images;
let workdir: string;

beforeAll(async () => {
  await tf.setBackend("cpu");
  images = await loadImages();
  workdir = mkdtempSync(join(tmpdir(), "sightline-onnx-"));
});

afterAll(() => {
  if (workdir) rmSync(workdir, { recursive: true, force: true });
});

describe.each(["cnn", "cnn-bn"] as Architecture[])("ONNX export of %s", (architecture) => {
  let model: tfl.Sequential;
  let bytes: Uint8Array;
  let reference: { probabilities: Float32Array; embedding: Float32Array };

  beforeAll(() => {
    model = buildModel({ architecture, height: SIZE, width: SIZE, channels: 1, classes: CLASSES, seed: 7 });
    perturb(model, 7);
    calibrateBatchNorm(model, images, 7);
    bytes = exportOnnx(model, { metadata: METADATA, producerVersion: "0.1.0" });
    reference = tfjsOutputs(model, images);
  }, 60_000);

  it("matches tfjs on ≥ 100 real images (probabilities and embedding, same argmax)", async () => {
    expect(images.count).toBeGreaterThanOrEqual(100);
    const onnx = await runOnnx(bytes, images.data, images.count);
    expect(onnx.probabilities.dims).toEqual([images.count, CLASSES]);
    expect(onnx.embedding.dims).toEqual([images.count, 128]);
    const probabilities = onnx.probabilities.data as Float32Array;
    const embedding = onnx.embedding.data as Float32Array;
    const diffs = {
      probabilities: maxAbsDiff(probabilities, reference.probabilities),
      embedding: maxAbsDiff(embedding, reference.embedding),
    };
    console.log(`${architecture}: max |onnx - tfjs| over ${images.count} images: ${JSON.stringify(diffs)}`);
    expect(diffs.probabilities).toBeLessThanOrEqual(TOLERANCE);
    expect(diffs.embedding).toBeLessThanOrEqual(TOLERANCE);
    const predicted = argmaxRows(probabilities, CLASSES);
    expect(predicted).toEqual(argmaxRows(reference.probabilities, CLASSES));
    // Not vacuous: the model separates images and the embedding is alive.
    expect(new Set(predicted).size).toBeGreaterThan(1);
    expect(reference.embedding.filter((v) => v > 0).length).toBeGreaterThan(reference.embedding.length / 10);
  });

  it("detects a small weight change (negative control for the parity check)", async () => {
    const layer = model.getLayer(architecture === "cnn-bn" ? "bn1" : "conv1");
    const original = layer.getWeights().map((t) => t.clone());
    try {
      // cnn-bn: moving variance × 1.5; cnn: conv1 bias + 0.05. Both are small compared with the activations.
      layer.setWeights(
        original.map((t, index) => {
          const name = layer.weights[index]?.originalName ?? "";
          if (name.endsWith("/moving_variance")) return tf.mul(t, 1.5);
          if (name.endsWith("/bias")) return tf.add(t, 0.05);
          return t;
        }),
      );
      const changed = exportOnnx(model, { metadata: {} });
      const onnx = await runOnnx(changed, images.data, 20);
      expect(
        maxAbsDiff(onnx.embedding.data as Float32Array, reference.embedding.subarray(0, 20 * 128)),
      ).toBeGreaterThan(1e-2);
    } finally {
      layer.setWeights(original);
    }
  });

  it("runs with a symbolic batch (1 and 37)", async () => {
    for (const batch of [1, 37]) {
      const onnx = await runOnnx(bytes, images.data, batch);
      expect(onnx.probabilities.dims).toEqual([batch, CLASSES]);
      expect(onnx.embedding.dims).toEqual([batch, 128]);
      expect(
        maxAbsDiff(onnx.probabilities.data as Float32Array, reference.probabilities.subarray(0, batch * CLASSES)),
      ).toBeLessThanOrEqual(TOLERANCE);
      expect(
        maxAbsDiff(onnx.embedding.data as Float32Array, reference.embedding.subarray(0, batch * 128)),
      ).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it("declares the input/outputs, opset, producer and round-trips metadata_props", () => {
    const decoded = onnxProto.onnx.ModelProto.decode(bytes);
    expect(Number(decoded.irVersion)).toBe(ONNX_IR_VERSION);
    expect(decoded.opsetImport.map((o) => [o.domain ?? "", Number(o.version)])).toEqual([["", ONNX_OPSET]]);
    expect(decoded.producerName).toBe("sightline");
    expect(decoded.producerVersion).toBe("0.1.0");
    expect(Object.fromEntries(decoded.metadataProps.map((p) => [p.key, p.value]))).toEqual(METADATA);
    const dims = (info: InstanceType<typeof onnxProto.onnx.ValueInfoProto>): (string | number)[] =>
      (info.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
    const graph = onnxProto.onnx.GraphProto.create(decoded.graph ?? {});
    expect(graph.input.map((i) => [i.name, dims(onnxProto.onnx.ValueInfoProto.create(i))])).toEqual([
      ["input", ["N", SIZE, SIZE, 1]],
    ]);
    expect(graph.output.map((o) => [o.name, dims(onnxProto.onnx.ValueInfoProto.create(o))])).toEqual([
      ["probabilities", ["N", CLASSES]],
      ["embedding", ["N", 128]],
    ]);
    expect(graph.input[0]?.type?.tensorType?.elemType).toBe(onnxProto.onnx.TensorProto.DataType.FLOAT);
    // Graph ops: only the ones the exporter is meant to write.
    const ops = new Set(graph.node.map((n) => n.opType));
    expect([...ops].sort()).toEqual(
      (architecture === "cnn-bn"
        ? ["BatchNormalization", "Conv", "Flatten", "MatMul", "Add", "MaxPool", "Relu", "Softmax", "Transpose"]
        : ["Conv", "Flatten", "MatMul", "Add", "MaxPool", "Relu", "Softmax", "Transpose"]
      ).sort(),
    );
  });

  itWithPythonOnnx(
    "passes onnx.checker.check_model(full_check=True) and shape inference agrees with the outputs",
    () => {
      if (onnxVersion === null) throw new Error(`CI=true but ${PYTHON} cannot import onnx: install python3-onnx`);
      const file = join(workdir, `${architecture}.onnx`);
      writeFileSync(file, bytes);
      let stdout: string;
      try {
        stdout = execFileSync(PYTHON, ["-c", CHECKER, file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr ?? "";
        throw new Error(`onnx ${onnxVersion} rejected the model:\n${stderr}`, { cause: error });
      }
      const report = JSON.parse(stdout) as CheckerReport;
      expect(report.ir_version).toBe(ONNX_IR_VERSION);
      expect(report.opsets).toEqual({ "": ONNX_OPSET });
      expect(report.producer).toBe("sightline");
      expect(report.metadata).toEqual(METADATA);
      expect(report.declared).toEqual({ probabilities: ["N", CLASSES], embedding: ["N", 128] });
      expect(report.inferred).toEqual(report.declared);
    },
  );
});

describe("ONNX export refusals", () => {
  it("refuses a layer type it does not know, naming the layer", () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ name: "conv1", filters: 4, kernelSize: 3, padding: "same", inputShape: [SIZE, SIZE, 1] }),
        tfl.layers.upSampling2d({ name: "upsample", size: [2, 2] }),
        tfl.layers.flatten({ name: "flatten" }),
        tfl.layers.dense({ name: EMBEDDING_LAYER, units: 8, activation: "relu" }),
        tfl.layers.dense({ name: "probabilities", units: CLASSES, activation: "softmax" }),
      ],
    });
    expect(() => exportOnnx(model, { metadata: {} })).toThrow(OnnxExportError);
    expect(() => exportOnnx(model, { metadata: {} })).toThrow(
      /layer "upsample" \(UpSampling2D\).*does not know this layer type/,
    );
  });

  it("refuses an activation it does not know", () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ name: EMBEDDING_LAYER, units: 8, activation: "selu", inputShape: [4] }),
        tfl.layers.dense({ name: "probabilities", units: CLASSES, activation: "softmax" }),
      ],
    });
    expect(() => exportOnnx(model, { metadata: {} })).toThrow(/activation "selu" is not supported/);
  });

  it("refuses a model without an embedding layer", () => {
    const model = tfl.sequential({
      layers: [tfl.layers.dense({ name: "probabilities", units: CLASSES, activation: "softmax", inputShape: [4] })],
    });
    expect(() => exportOnnx(model, { metadata: {} })).toThrow(/no layer named "embedding"/);
  });
});
