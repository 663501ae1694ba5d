import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import onnxProto from "onnx-proto";
import sharp from "sharp";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { moveAlias, PRODUCTION } from "../../core/registry/aliases.ts";
import { registerVersion, type ModelVersion } from "../../core/registry/model-version.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { testCard } from "./model-card.ts";

const { onnx } = onnxProto;
const SIZE = 28;
const PIXELS = SIZE * SIZE;
export const TINY_CLASSES = ["dark", "light"];
export const TINY_MODEL = "tiny";

/**
 * A real ONNX classifier without training: input [N,28,28,1] → Flatten → Gemm → Softmax → probabilities [N,2],
 * with weights that call bright images "light". Loaded by onnxruntime like any trained model, in milliseconds.
 */
export function tinyOnnx(): Uint8Array {
  const w = new Float32Array(PIXELS * 2);
  for (let i = 0; i < PIXELS; i++) {
    w[i * 2] = -1 / PIXELS;
    w[i * 2 + 1] = 1 / PIXELS;
  }
  const tensor = (name: string, dims: number[], values: Float32Array) => ({
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(values.buffer),
  });
  const valueInfo = (name: string, dims: (number | string)[]) => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) },
      },
    },
  });
  const proto = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: "", version: 13 }],
    producerName: "test",
    graph: {
      name: "tiny",
      node: [
        {
          opType: "Flatten",
          input: ["input"],
          output: ["flat"],
          name: "flatten",
          attribute: [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
        },
        { opType: "Gemm", input: ["flat", "W", "b"], output: ["logits"], name: "gemm" },
        {
          opType: "Softmax",
          input: ["logits"],
          output: ["probabilities"],
          name: "softmax",
          attribute: [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
        },
      ],
      initializer: [tensor("W", [PIXELS, 2], w), tensor("b", [2], new Float32Array([0.5, -0.5]))],
      input: [valueInfo("input", ["N", SIZE, SIZE, 1])],
      output: [valueInfo("probabilities", ["N", 2])],
    },
  });
  return onnx.ModelProto.encode(proto).finish();
}

export interface TinyWorld {
  home: string;
  rt: Runtime;
  version: ModelVersion;
  close(): Promise<void>;
}

/** A fresh embedded home (SQLite, local blobs and bus) with the tiny model registered and in production. */
export async function tinyWorld(): Promise<TinyWorld> {
  const home = mkdtempSync(join(tmpdir(), "sightline-tiny-"));
  const rt = await openRuntime(loadConfig({ SIGHTLINE_HOME: home }, home), createLogger({}, { level: "CRITICAL" }));
  const model = await rt.blobs.put(tinyOnnx());
  const card = testCard({
    name: TINY_MODEL,
    classes: TINY_CLASSES,
    preprocessing: { width: SIZE, height: SIZE, channels: 1 },
    onnx: {
      modelDigest: model.digest,
      opset: 13,
      input: "input",
      outputs: { scores: "probabilities", kind: "probabilities" },
    },
  });
  const cardRef = await rt.blobs.put(new TextEncoder().encode(JSON.stringify(card)));
  const version = await registerVersion(rt.meta, {
    name: TINY_MODEL,
    datasetId: "d".repeat(64),
    requestId: "req-tiny",
    runId: "run-tiny",
    modelDigest: model.digest,
    cardDigest: cardRef.digest,
    profileDigest: null,
    configHash: "cfg",
    gitCommit: null,
    image: null,
    metrics: { accuracy: 1 },
  });
  await moveAlias(rt.meta, {
    name: TINY_MODEL,
    alias: PRODUCTION,
    to: version.version,
    expected: null,
    actor: "tester",
    reason: "test",
    action: "alias.set",
  });
  return { home, rt, version, close: () => rt.close() };
}

/** A real PNG, 28×28 grey at `level` (0–255). */
export function greyPng(level: number): Promise<Buffer> {
  return sharp(Buffer.alloc(PIXELS, level), { raw: { width: SIZE, height: SIZE, channels: 1 } })
    .png()
    .toBuffer();
}
