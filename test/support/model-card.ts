import { ModelCardSchema, type ModelCard } from "../../core/registry/model-card.ts";
import { digestOf } from "../../core/util/digest.ts";

/** A valid model card whose fields only matter where a test sets them (`extra`), parsed as the stores parse it. */
export function testCard(extra: Record<string, unknown> = {}): ModelCard {
  const digest = digestOf("x");
  return ModelCardSchema.parse({
    schema: "sightline.model-card/v1",
    name: "fmnist",
    runId: "run-1",
    requestId: "req-1",
    datasetId: "d".repeat(64),
    manifestDigest: digest,
    classes: ["a", "b"],
    preprocessing: { width: 28, height: 28, channels: 1 },
    onnx: {
      modelDigest: digest,
      opset: 13,
      input: "pixels",
      outputs: { scores: "probabilities", kind: "probabilities" },
    },
    profileDigest: digest,
    architecture: "test",
    config: {},
    configHash: "h",
    gitCommit: null,
    image: null,
    metrics: { accuracy: 0.9 },
    evaluation: {},
    history: [],
    trainedAt: new Date().toISOString(),
    trainingSeconds: 1,
    imagesPerSecond: 1,
    backend: "test",
    ...extra,
  });
}
