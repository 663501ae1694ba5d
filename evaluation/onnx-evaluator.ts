import * as ort from "onnxruntime-node";
import type { BlobStore } from "../core/blobs/blob-store.ts";
import type { MetadataStore } from "../core/meta/metadata-store.ts";
import { parseModelCard } from "../core/registry/model-card.ts";
import type { Metrics, ModelVersion } from "../core/registry/model-version.ts";
import type { Evaluator } from "../core/registry/promote.ts";
import { loadTrainingData } from "../core/datasets/training-data.ts";
import { evaluateClassifier, flatMetrics } from "../core/evaluation/metrics.ts";
import { classifySplit } from "./onnx-classifier.ts";
import { SightlineError } from "../core/errors.ts";

/**
 * Evaluates a registered model version on another dataset's test split, the way it is served: its stored ONNX
 * file in onnxruntime, the dataset preprocessed with the version's own card. The promotion gate uses it to compare
 * production with a candidate on the candidate's held-out data.
 */
export class OnnxEvaluator implements Evaluator {
  private readonly rt: { blobs: BlobStore; meta: MetadataStore };

  constructor(rt: { blobs: BlobStore; meta: MetadataStore }) {
    this.rt = rt;
  }

  async evaluate(model: ModelVersion, datasetId: string): Promise<Metrics> {
    const card = parseModelCard(await this.rt.blobs.get(model.cardDigest), `${model.name}:${model.version}`);
    const data = await loadTrainingData(this.rt, datasetId, card.preprocessing, { splits: ["test"] });
    if (data.classes.join("\u0000") !== card.classes.join("\u0000")) {
      throw new SightlineError(
        "invalid",
        "classes_mismatch",
        `${model.name}:${model.version} knows classes ${card.classes.join(", ")}; dataset ${datasetId} has ${data.classes.join(", ")}`,
      );
    }
    const session = await ort.InferenceSession.create(await this.rt.blobs.get(model.modelDigest));
    let probabilities: Float32Array;
    try {
      ({ probabilities } = await classifySplit(session, card, data.test, { embeddings: false }));
    } finally {
      await session.release();
    }
    return flatMetrics(evaluateClassifier({ probabilities, labels: data.test.y, classes: card.classes }));
  }
}
