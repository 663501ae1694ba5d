// A tiny bring-your-own trainer on the trainer contract (docs/trainer-contract.md), run by the contract tests as
// `node contract-trainer.ts --mode MODE …`. It knows nothing of Sightline's code: it reads only the contract's
// environment (AIP_*, SIGHTLINE_*) and writes model.onnx, sightline.json and metrics.jsonl into AIP_MODEL_DIR.
// The models are real ONNX graphs: pixels [N,1,28,28] → Flatten → Gemm → logits [N,K], and MatMul → features [N,16].
//
// Modes (SIGHTLINE_ARGS.mode):
//   good               nearest-class-mean classifier from the staged training split; reports its own test accuracy
//   fixed              fixed weights (accuracy irrelevant)
//   junk-metrics       fixed weights, and metrics.jsonl mixes valid and malformed lines
//   fail               prints a Python-style traceback and exits 3
//   no-model           exits 0 with sightline.json but no model.onnx
//   garbage            model.onnx holds bytes that are not ONNX
//   seven              a valid model whose scores have 7 classes
//   nan                a valid model whose weights are NaN
//   no-interface       model.onnx without sightline.json
//   wrong-output       sightline.json names an output the model lacks
//   fake-probabilities declares "probabilities" for logits
//   sleep              writes its pid, then sleeps 30 s
//   model-then-sleep   writes a valid model and its pid, creates the `ready` file, sleeps 30 s
//   fine-tune          copies SIGHTLINE_INIT_MODEL as its model
// Other args: `dump` (write {env, argv, pid} there first), `gate` (after the first metric line, wait for this file
// to exist, so a test can see the line streamed while the trainer still runs), `ready` (see model-then-sleep).
import { createHash } from "node:crypto";
import { appendFileSync, copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SIZE = 28;
const PIXELS = SIZE * SIZE;
const FEATURES = 16;

const env = process.env;
const args = JSON.parse(env.SIGHTLINE_ARGS ?? "{}") as Record<string, string | number | boolean>;
const mode = String(args.mode ?? "good");
const modelDir = env.AIP_MODEL_DIR ?? ".";
const classes = JSON.parse(env.SIGHTLINE_CLASSES ?? "[]") as string[];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (typeof args.dump === "string")
  writeFileSync(args.dump, JSON.stringify({ env, argv: process.argv.slice(2), pid: process.pid }));
if (mode === "sleep") {
  // Before loading anything, so the pid is written even when the timeout comes quickly on a busy machine.
  writeFileSync(join(env.AIP_CHECKPOINT_DIR ?? ".", "trainer.pid"), String(process.pid));
  await sleep(30_000);
  process.exit(0);
}
const { default: onnxProto } = await import("onnx-proto");
const { default: sharp } = await import("sharp");
const { onnx } = onnxProto;

function metric(line: Record<string, unknown> | string, newline = true): void {
  appendFileSync(
    join(modelDir, "metrics.jsonl"),
    `${typeof line === "string" ? line : JSON.stringify(line)}${newline ? "\n" : ""}`,
  );
}

/** Deterministic values in [-0.05, 0.05). */
function fixedValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 0x1_0000_0000 - 0.5) / 10;
  }
  return out;
}

function tensor(name: string, dims: number[], values: Float32Array) {
  return {
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  };
}

function valueInfo(name: string, dims: (number | string)[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** logits = flatten(pixels) · W + b, features = flatten(pixels) · P; W is [784, k]. */
function buildModel(w: Float32Array, b: Float32Array, k: number): Uint8Array {
  const proto = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: "", version: 13 }],
    producerName: "contract-trainer",
    graph: {
      name: "ncm",
      node: [
        {
          opType: "Flatten",
          input: ["pixels"],
          output: ["flat"],
          name: "flatten",
          attribute: [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
        },
        { opType: "Gemm", input: ["flat", "W", "b"], output: ["logits"], name: "gemm" },
        { opType: "MatMul", input: ["flat", "P"], output: ["features"], name: "project" },
      ],
      initializer: [
        tensor("W", [PIXELS, k], w),
        tensor("b", [k], b),
        tensor("P", [PIXELS, FEATURES], fixedValues(PIXELS * FEATURES, 7)),
      ],
      input: [valueInfo("pixels", ["N", 1, SIZE, SIZE])],
      output: [valueInfo("logits", ["N", k]), valueInfo("features", ["N", FEATURES])],
    },
  });
  return onnx.ModelProto.encode(proto).finish();
}

function fixedModel(k = classes.length, fill?: number): Uint8Array {
  const w = fixedValues(PIXELS * k, 3);
  if (fill !== undefined) w.fill(fill);
  return buildModel(w, new Float32Array(k), k);
}

function writeInterface(over: { output?: string; kind?: string; embedding?: string | null } = {}): void {
  const iface = {
    input: {
      name: "pixels",
      layout: "NCHW",
      width: SIZE,
      height: SIZE,
      channels: 1,
      scale: 1 / 255,
      mean: [0],
      std: [1],
    },
    output: { name: over.output ?? "logits", kind: over.kind ?? "logits" },
    // null: the model declares no embedding output (it still has one; the platform must not ask for it).
    ...(over.embedding === null ? {} : { embedding: over.embedding ?? "features" }),
  };
  writeFileSync(join(modelDir, "sightline.json"), JSON.stringify(iface, null, 2));
}

function writeModel(bytes: Uint8Array): void {
  writeFileSync(join(modelDir, "model.onnx"), bytes);
}

/** A split's images as [0, 1] floats, with their class indices, read through the split's JSONL file. */
async function readSplit(uri: string): Promise<{ x: Float32Array[]; y: number[] }> {
  const lines = readFileSync(fileURLToPath(uri), "utf8").split("\n").filter(Boolean);
  const x: Float32Array[] = [];
  const y: number[] = [];
  for (const line of lines) {
    const { imageGcsUri, classificationAnnotation } = JSON.parse(line) as {
      imageGcsUri: string;
      classificationAnnotation: { displayName: string };
    };
    const { data } = await sharp(fileURLToPath(imageGcsUri))
      .toColourspace("b-w")
      .raw()
      .toBuffer({ resolveWithObject: true });
    x.push(Float32Array.from(data, (v) => v / 255));
    y.push(classes.indexOf(classificationAnnotation.displayName));
  }
  return { x, y };
}

async function good(): Promise<void> {
  metric({ epoch: 1, step: 1, loss: 2.25, phase: "reading" });
  if (typeof args.gate === "string") {
    const deadline = Date.now() + 10_000;
    while (!existsSync(args.gate) && Date.now() < deadline) await sleep(20);
  }
  const train = await readSplit(env.AIP_TRAINING_DATA_URI ?? "");
  const k = classes.length;
  const means = Array.from({ length: k }, () => new Float64Array(PIXELS));
  const counts = new Array<number>(k).fill(0);
  train.x.forEach((img, i) => {
    const c = train.y[i]!;
    counts[c]!++;
    for (let p = 0; p < PIXELS; p++) means[c]![p]! += img[p]!;
  });
  // Nearest class mean as a linear layer: argmin |x − μ|² = argmax x·μ − |μ|²/2.
  const w = new Float32Array(PIXELS * k);
  const b = new Float32Array(k);
  means.forEach((mu, c) => {
    let norm = 0;
    for (let p = 0; p < PIXELS; p++) {
      mu[p]! /= Math.max(1, counts[c]!);
      w[p * k + c] = mu[p]!;
      norm += mu[p]! * mu[p]!;
    }
    b[c] = -norm / 2;
  });
  await sleep(50);
  metric({ epoch: 1, step: 2, loss: 1.5 });
  writeModel(buildModel(w, b, k));
  writeInterface();

  // Its own test accuracy, computed the way the model computes it (float32 weights).
  const test = await readSplit(env.AIP_TEST_DATA_URI ?? "");
  let correct = 0;
  test.x.forEach((img, i) => {
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c < k; c++) {
      let s = b[c]!;
      for (let p = 0; p < PIXELS; p++) s += img[p]! * w[p * k + c]!;
      if (s > bestScore) [best, bestScore] = [c, s];
    }
    if (best === test.y[i]) correct++;
  });
  await sleep(50);
  metric({ epoch: 1, step: 3, test_accuracy: correct / test.x.length, test_images: test.x.length });
}

switch (mode) {
  case "good":
    await good();
    break;
  case "fixed":
    writeModel(fixedModel());
    writeInterface();
    metric({ step: 1, loss: 1 });
    break;
  case "junk-metrics":
    writeModel(fixedModel());
    writeInterface();
    metric({ step: 1, loss: 1 });
    metric("this is not JSON {");
    metric({ phase: "only strings here" });
    metric({ step: 1.5, loss: 0.9 });
    metric("[1, 2, 3]");
    metric({ step: 2, loss: 0.8, note: "kept without the note" });
    metric({ step: 3, loss: 0.7 }, false); // the last line has no newline: still read once the trainer exits
    break;
  case "fail":
    process.stdout.write("epoch 1/3\n");
    process.stderr.write(
      'Traceback (most recent call last):\n  File "train.py", line 12, in <module>\n    raise ValueError("learning rate must be positive")\nValueError: learning rate must be positive\n',
    );
    process.exit(3);
    break;
  case "no-model":
    writeInterface();
    break;
  case "no-embedding":
    writeModel(fixedModel());
    writeInterface({ embedding: null });
    break;
  case "garbage":
    writeModel(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x01, 0x02]));
    writeInterface();
    break;
  case "seven":
    writeModel(fixedModel(7));
    writeInterface();
    break;
  case "nan":
    writeModel(fixedModel(classes.length, Number.NaN));
    writeInterface();
    break;
  case "no-interface":
    writeModel(fixedModel());
    break;
  case "wrong-output":
    writeModel(fixedModel());
    writeInterface({ output: "probs" });
    break;
  case "fake-probabilities":
    writeModel(fixedModel());
    writeInterface({ kind: "probabilities" });
    break;
  case "model-then-sleep":
    writeModel(fixedModel());
    writeInterface();
    writeFileSync(join(env.AIP_CHECKPOINT_DIR ?? ".", "trainer.pid"), String(process.pid));
    if (typeof args.ready === "string") writeFileSync(args.ready, String(process.pid));
    await sleep(30_000);
    break;
  case "fine-tune": {
    const init = env.SIGHTLINE_INIT_MODEL;
    if (!init) throw new Error("fine-tune needs SIGHTLINE_INIT_MODEL");
    copyFileSync(init, join(modelDir, "model.onnx"));
    writeInterface();
    metric({
      step: 1,
      init_sha256_prefix: Number.parseInt(
        createHash("sha256").update(readFileSync(init)).digest("hex").slice(0, 8),
        16,
      ),
    });
    break;
  }
  default:
    throw new Error(`unknown mode ${mode}`);
}
