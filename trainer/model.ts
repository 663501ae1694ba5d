import * as tfl from "@tensorflow/tfjs-layers";

export type Architecture = "cnn" | "cnn-bn";

export interface ModelShape {
  architecture: Architecture;
  height: number;
  width: number;
  channels: number;
  classes: number;
  seed: number;
}

/** Layer names are part of the contract with the ONNX exporter and the drift profile (the embedding layer). */
export const EMBEDDING_LAYER = "embedding";
export const OUTPUT_LAYER = "probabilities";

/**
 * The reference CNN of the PyTorch peer (conv 32 → pool → conv 64 → pool → dense 128 → dropout 0.25 → classes),
 * NHWC, 3×3 convolutions with same padding; `cnn-bn` puts batch normalisation between each convolution or the dense
 * layer and its ReLU.
 * Initialisers are seeded so the same seed gives the same model.
 */
export function buildModel(shape: ModelShape): tfl.Sequential {
  const seeded = (offset: number) => tfl.initializers.glorotUniform({ seed: shape.seed * 1000 + offset });
  const bn = shape.architecture === "cnn-bn";
  const model = tfl.sequential({ name: `sightline-${shape.architecture}` });
  // With batch norm the layer before it is linear and has no bias (BN's beta is the bias); the ReLU follows BN.
  const normalisedRelu = (index: number, reluName: string): void => {
    model.add(tfl.layers.batchNormalization({ name: `bn${index}`, axis: -1, momentum: 0.9, epsilon: 1e-5 }));
    model.add(tfl.layers.activation({ name: reluName, activation: "relu" }));
  };
  const conv = (filters: number, index: number, first: boolean): void => {
    model.add(
      tfl.layers.conv2d({
        name: `conv${index}`,
        filters,
        kernelSize: 3,
        padding: "same",
        activation: bn ? "linear" : "relu",
        useBias: !bn,
        kernelInitializer: seeded(index),
        ...(first ? { inputShape: [shape.height, shape.width, shape.channels] } : {}),
      }),
    );
    if (bn) normalisedRelu(index, `relu${index}`);
    model.add(tfl.layers.maxPooling2d({ name: `pool${index}`, poolSize: 2, strides: 2 }));
  };
  conv(32, 1, true);
  conv(64, 2, false);
  model.add(tfl.layers.flatten({ name: "flatten" }));
  // The embedding is the ReLU's output either way, so drift and the exporter read the same 128 values.
  model.add(
    tfl.layers.dense({
      name: bn ? "dense3" : EMBEDDING_LAYER,
      units: 128,
      activation: bn ? "linear" : "relu",
      useBias: !bn,
      kernelInitializer: seeded(3),
    }),
  );
  if (bn) normalisedRelu(3, EMBEDDING_LAYER);
  // No seed here: a seeded tfjs dropout draws the same mask every step; training seeds Math.random instead.
  model.add(tfl.layers.dropout({ name: "dropout", rate: 0.25 }));
  model.add(
    tfl.layers.dense({ name: OUTPUT_LAYER, units: shape.classes, activation: "softmax", kernelInitializer: seeded(4) }),
  );
  return model;
}
