/**
 * ONNX export of a trained tfjs-layers model, written directly as an ONNX ModelProto (protobuf via `onnx-proto`).
 *
 * tfjs works in NHWC; ONNX Conv/MaxPool/BatchNormalization work in NCHW. The graph keeps the public input NHWC
 * (`input` [N, H, W, C], float32, symbolic batch `N`), transposes to NCHW in front of the first spatial operator and
 * back to NHWC before a Flatten/Dense/Softmax so the flattened order matches the tfjs dense kernels exactly.
 *
 * Outputs: `probabilities` (the last layer) and `embedding` (the layer named `embedding`, the penultimate dense layer
 * used by drift). A layer type (or a configuration of one) the exporter does not know is refused with an error that
 * names the layer; nothing is silently approximated.
 */
import onnxProto from "onnx-proto";
import type * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { SightlineError } from "../../core/errors.ts";
import { EMBEDDING_LAYER } from "../model.ts";

const { onnx } = onnxProto;
type NodeProto = InstanceType<typeof onnx.NodeProto>;
type TensorProtoInit = NonNullable<ConstructorParameters<typeof onnx.TensorProto>[0]>;
type AttributeInit = NonNullable<ConstructorParameters<typeof onnx.AttributeProto>[0]>;
type ValueInfoInit = NonNullable<ConstructorParameters<typeof onnx.ValueInfoProto>[0]>;
type Layer = tfl.LayersModel["layers"][number];

/** Operator set the graph is written against (ai.onnx). */
export const ONNX_OPSET = 13;
/** IR version matching opset 13 (ONNX 1.8, IR_VERSION_2020_5_8). */
export const ONNX_IR_VERSION = 7;
export const ONNX_PRODUCER = "sightline";
export const ONNX_INPUT = "input";
export const ONNX_PROBABILITIES = "probabilities";
export const ONNX_EMBEDDING = "embedding";
/** Name of the symbolic batch dimension of the input and both outputs. */
export const ONNX_BATCH_DIM = "N";

export interface OnnxExportOptions {
  /** Written to `metadata_props` (dataset id, run id, git commit, config hash, trainer image, labels, …). */
  metadata: Record<string, string>;
  /** `producer_version`; defaults to empty. */
  producerVersion?: string;
  /** Name of the layer whose output becomes the `embedding` output; defaults to `embedding`. */
  embeddingLayer?: string;
}

/** The model uses something the exporter does not translate to ONNX. */
export class OnnxExportError extends SightlineError {
  constructor(message: string) {
    super("invalid", "onnx_export_unsupported", message);
  }
}

type Layout = "nhwc" | "nchw" | "plain";
interface Current {
  name: string;
  layout: Layout;
  /** Shape in the tfjs (channels-last) convention, batch as null. */
  shape: (number | null)[];
}

const DataType = onnx.TensorProto.DataType;
const AttributeType = onnx.AttributeProto.AttributeType;

/** Export `model` as ONNX; returns the serialized ModelProto. */
export function exportOnnx(model: tfl.LayersModel, options: OnnxExportOptions): Uint8Array {
  const graph = new GraphBuilder();
  const layers = model.layers.filter((layer) => layer.getClassName() !== "InputLayer");
  const embeddingLayer = options.embeddingLayer ?? EMBEDDING_LAYER;
  checkLinearChain(model, layers);
  const last = layers[layers.length - 1];
  if (last === undefined) throw new OnnxExportError("the model has no layers to export");
  if (!layers.some((layer) => layer.name === embeddingLayer)) {
    throw new OnnxExportError(`the model has no layer named "${embeddingLayer}" for the embedding output`);
  }
  if (last.name === embeddingLayer) {
    throw new OnnxExportError(`the embedding layer "${embeddingLayer}" cannot also be the last (probabilities) layer`);
  }

  const input = model.inputs[0];
  if (input === undefined) throw new OnnxExportError("the model has no input");
  if (input.dtype !== "float32")
    throw new OnnxExportError(`input dtype ${input.dtype} is not supported (float32 only)`);
  const inputShape = input.shape.map((dim, index) => (index === 0 ? null : dim));
  if (inputShape.slice(1).some((dim) => dim === null)) {
    throw new OnnxExportError(`input shape ${JSON.stringify(input.shape)} must be static apart from the batch`);
  }
  graph.inputs.push(valueInfo(ONNX_INPUT, inputShape));

  let current: Current = { name: ONNX_INPUT, layout: inputShape.length === 4 ? "nhwc" : "plain", shape: inputShape };
  const outputTensor = new Map<string, string>([
    [last.name, ONNX_PROBABILITIES],
    [embeddingLayer, ONNX_EMBEDDING],
  ]);
  for (const layer of layers) {
    const tensorName = outputTensor.get(layer.name);
    if (
      tensorName === undefined &&
      (layer.name === ONNX_PROBABILITIES || layer.name === ONNX_EMBEDDING || layer.name === ONNX_INPUT)
    ) {
      throw new OnnxExportError(`layer name "${layer.name}" collides with an ONNX graph input/output name`);
    }
    const before = graph.nodes.length;
    current = exportLayer(graph, layer, current);
    current = { ...current, shape: outputShape(layer) };
    if (tensorName !== undefined) {
      // Graph outputs are channels-last like the tfjs model; they carry the output name on their last node.
      if (current.layout === "nchw") current = graph.toNhwc(current, layer.name);
      const lastNode = graph.nodes[graph.nodes.length - 1];
      if (graph.nodes.length > before && lastNode !== undefined && lastNode.output[0] === current.name) {
        lastNode.output[0] = tensorName;
      } else {
        graph.node("Identity", [current.name], tensorName);
      }
      current = { ...current, name: tensorName };
      graph.outputs.push(valueInfo(tensorName, current.shape));
    }
  }
  // probabilities first, then embedding
  graph.outputs.sort((a, b) => (a.name === ONNX_PROBABILITIES ? -1 : b.name === ONNX_PROBABILITIES ? 1 : 0));

  const metadataProps = Object.entries(options.metadata).map(([key, value]) => {
    if (typeof value !== "string") throw new OnnxExportError(`metadata "${key}" must be a string`);
    return { key, value };
  });
  const proto = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    producerName: ONNX_PRODUCER,
    producerVersion: options.producerVersion ?? "",
    docString: `tfjs-layers model "${model.name}" exported by sightline`,
    metadataProps,
    graph: {
      name: model.name,
      node: graph.nodes,
      initializer: graph.initializers,
      input: graph.inputs,
      output: graph.outputs,
    },
  });
  return onnx.ModelProto.encode(proto).finish();
}

function checkLinearChain(model: tfl.LayersModel, layers: Layer[]): void {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new OnnxExportError("only single-input, single-output models can be exported");
  }
  for (let index = 1; index < layers.length; index += 1) {
    const layer = layers[index];
    const previous = layers[index - 1];
    const inbound = layer?.inboundNodes.flatMap((node) => node.inboundLayers) ?? [];
    if (inbound.length !== 1 || inbound[0] !== previous) {
      throw new OnnxExportError(
        `layer "${layer?.name}" is not fed by "${previous?.name}" alone; only linear stacks can be exported`,
      );
    }
  }
}

function outputShape(layer: Layer): (number | null)[] {
  const shape = layer.outputShape;
  if (!Array.isArray(shape) || shape.some((dim) => Array.isArray(dim))) {
    throw new OnnxExportError(`layer "${layer.name}" has more than one output`);
  }
  return shape as (number | null)[];
}

function exportLayer(graph: GraphBuilder, layer: Layer, input: Current): Current {
  const kind = layer.getClassName();
  const config = layer.getConfig();
  const where = `layer "${layer.name}" (${kind})`;
  switch (kind) {
    case "InputLayer":
      return input;
    case "Dropout":
      // Identity at inference.
      return input;
    case "Activation":
      return activation(graph, layer.name, input, readString(config, "activation", where), where);
    case "Flatten": {
      const x = graph.toNhwc(input, layer.name);
      if (x.shape.length <= 2) return x;
      return {
        name: graph.node("Flatten", [x.name], `${layer.name}/flatten`, { axis: 1 }),
        layout: "plain",
        shape: x.shape,
      };
    }
    case "Dense": {
      const x = graph.toNhwc(input, layer.name);
      const weights = namedWeights(layer);
      const kernel = required(weights, "kernel", where);
      let y = graph.node(
        "MatMul",
        [x.name, graph.initializer(`${layer.name}/kernel`, kernel.shape, kernel.values)],
        `${layer.name}/matmul`,
      );
      if (readBoolean(config, "useBias", where)) {
        const bias = required(weights, "bias", where);
        y = graph.node(
          "Add",
          [y, graph.initializer(`${layer.name}/bias`, bias.shape, bias.values)],
          `${layer.name}/bias_add`,
        );
      }
      return activation(graph, layer.name, { ...x, name: y }, readString(config, "activation", where), where);
    }
    case "Conv2D": {
      requireRank(input, 4, where);
      requireChannelsLast(config, where);
      const kernelSize = readPair(config, "kernelSize", where);
      const strides = readPair(config, "strides", where);
      const dilations = readPair(config, "dilationRate", where);
      const weights = namedWeights(layer);
      const kernel = required(weights, "kernel", where);
      const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
      const x = graph.toNchw(input, layer.name);
      const inputs = [
        x.name,
        graph.initializer(`${layer.name}/kernel`, [cout, cin, kh, kw], hwioToOihw(kernel.values, kh, kw, cin, cout)),
      ];
      if (readBoolean(config, "useBias", where)) {
        const bias = required(weights, "bias", where);
        inputs.push(graph.initializer(`${layer.name}/bias`, bias.shape, bias.values));
      }
      const y = graph.node("Conv", inputs, `${layer.name}/conv`, {
        kernel_shape: kernelSize,
        strides,
        dilations,
        group: 1,
        pads: pads(readString(config, "padding", where), input.shape, kernelSize, strides, dilations, where),
      });
      return activation(
        graph,
        layer.name,
        { name: y, layout: "nchw", shape: input.shape },
        readString(config, "activation", where),
        where,
      );
    }
    case "MaxPooling2D":
    case "AveragePooling2D": {
      requireRank(input, 4, where);
      requireChannelsLast(config, where);
      const kernelSize = readPair(config, "poolSize", where);
      const strides = readPair(config, "strides", where);
      const x = graph.toNchw(input, layer.name);
      const attributes: Record<string, number | number[]> = {
        kernel_shape: kernelSize,
        strides,
        pads: pads(readString(config, "padding", where), input.shape, kernelSize, strides, [1, 1], where),
      };
      // tfjs averages over the valid (unpadded) window only; so does ONNX with count_include_pad = 0.
      if (kind === "AveragePooling2D") attributes.count_include_pad = 0;
      const op = kind === "MaxPooling2D" ? "MaxPool" : "AveragePool";
      return {
        name: graph.node(op, [x.name], `${layer.name}/${op.toLowerCase()}`, attributes),
        layout: "nchw",
        shape: input.shape,
      };
    }
    case "BatchNormalization": {
      const rank = input.shape.length;
      const axis = readNumber(config, "axis", where);
      if (axis !== -1 && axis !== rank - 1)
        throw new OnnxExportError(`${where}: only the channel (last) axis is supported, got axis ${axis}`);
      if (rank !== 4 && rank !== 2) throw new OnnxExportError(`${where}: input rank ${rank} is not supported (2 or 4)`);
      const x = rank === 4 ? graph.toNchw(input, layer.name) : input;
      const weights = namedWeights(layer);
      const mean = required(weights, "moving_mean", where);
      const variance = required(weights, "moving_variance", where);
      const channels = mean.values.length;
      const gamma = readBoolean(config, "scale", where)
        ? required(weights, "gamma", where).values
        : new Float32Array(channels).fill(1);
      const beta = readBoolean(config, "center", where)
        ? required(weights, "beta", where).values
        : new Float32Array(channels);
      const y = graph.node(
        "BatchNormalization",
        [
          x.name,
          graph.initializer(`${layer.name}/gamma`, [channels], gamma),
          graph.initializer(`${layer.name}/beta`, [channels], beta),
          graph.initializer(`${layer.name}/moving_mean`, [channels], mean.values),
          graph.initializer(`${layer.name}/moving_variance`, [channels], variance.values),
        ],
        `${layer.name}/batchnorm`,
        { epsilon: { float: readNumber(config, "epsilon", where) } },
      );
      return { ...x, name: y };
    }
    default:
      throw new OnnxExportError(`${where}: the ONNX exporter does not know this layer type`);
  }
}

function activation(graph: GraphBuilder, layerName: string, input: Current, name: string, where: string): Current {
  switch (name) {
    case "linear":
      return input;
    case "relu":
      return { ...input, name: graph.node("Relu", [input.name], `${layerName}/relu`) };
    case "sigmoid":
      return { ...input, name: graph.node("Sigmoid", [input.name], `${layerName}/sigmoid`) };
    case "tanh":
      return { ...input, name: graph.node("Tanh", [input.name], `${layerName}/tanh`) };
    case "softmax": {
      // tfjs softmax is over the last (channel) axis: go back to channels-last first.
      const x = graph.toNhwc(input, layerName);
      return { ...x, name: graph.node("Softmax", [x.name], `${layerName}/softmax`, { axis: -1 }) };
    }
    default:
      throw new OnnxExportError(`${where}: activation "${name}" is not supported by the ONNX exporter`);
  }
}

/** TF "same" padding: total = max((ceil(in/s) - 1)·s + (k - 1)·d + 1 - in, 0), the odd pixel at the end (SAME_UPPER). */
function pads(
  padding: string,
  shape: (number | null)[],
  kernel: number[],
  strides: number[],
  dilations: number[],
  where: string,
): number[] {
  if (padding === "valid") return [0, 0, 0, 0];
  if (padding !== "same") throw new OnnxExportError(`${where}: padding "${padding}" is not supported`);
  const begin: number[] = [];
  const end: number[] = [];
  for (let axis = 0; axis < 2; axis += 1) {
    const size = shape[axis + 1];
    const k = kernel[axis] ?? 1;
    const s = strides[axis] ?? 1;
    const d = dilations[axis] ?? 1;
    if (size === null || size === undefined)
      throw new OnnxExportError(`${where}: "same" padding needs a static spatial size`);
    const total = Math.max((Math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0);
    begin.push(Math.floor(total / 2));
    end.push(total - Math.floor(total / 2));
  }
  return [...begin, ...end];
}

function hwioToOihw(values: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let y = 0; y < kh; y += 1) {
    for (let x = 0; x < kw; x += 1) {
      for (let i = 0; i < cin; i += 1) {
        for (let o = 0; o < cout; o += 1) {
          out[((o * cin + i) * kh + y) * kw + x] = values[((y * kw + x) * cin + i) * cout + o] ?? 0;
        }
      }
    }
  }
  return out;
}

interface Weight {
  shape: number[];
  values: Float32Array;
}

/** The layer's weights by their short name (`kernel`, `bias`, `gamma`, `moving_mean`, …). */
function namedWeights(layer: Layer): Map<string, Weight> {
  const tensors: tf.Tensor[] = layer.getWeights();
  const result = new Map<string, Weight>();
  layer.weights.forEach((variable, index) => {
    const tensor = tensors[index];
    if (tensor === undefined) return;
    if (tensor.dtype !== "float32") {
      throw new OnnxExportError(
        `layer "${layer.name}": weight ${variable.name} is ${tensor.dtype}, only float32 is supported`,
      );
    }
    const short = variable.originalName.split("/").pop() ?? variable.originalName;
    result.set(short, { shape: tensor.shape.slice(), values: Float32Array.from(tensor.dataSync() as Float32Array) });
  });
  return result;
}

function required(weights: Map<string, Weight>, name: string, where: string): Weight {
  const weight = weights.get(name);
  if (weight === undefined) throw new OnnxExportError(`${where}: weight "${name}" not found`);
  return weight;
}

type Config = ReturnType<Layer["getConfig"]>;

function readString(config: Config, key: string, where: string): string {
  const value = config[key];
  if (typeof value !== "string") throw new OnnxExportError(`${where}: config "${key}" is not a string`);
  return value;
}
function readBoolean(config: Config, key: string, where: string): boolean {
  const value = config[key];
  if (typeof value !== "boolean") throw new OnnxExportError(`${where}: config "${key}" is not a boolean`);
  return value;
}
function readNumber(config: Config, key: string, where: string): number {
  const value = config[key];
  if (typeof value !== "number" || !Number.isFinite(value))
    throw new OnnxExportError(`${where}: config "${key}" is not a number`);
  return value;
}
function readPair(config: Config, key: string, where: string): number[] {
  const value = config[key];
  const pair = typeof value === "number" ? [value, value] : value;
  if (
    !Array.isArray(pair) ||
    pair.length !== 2 ||
    !pair.every((v) => typeof v === "number" && Number.isInteger(v) && v > 0)
  ) {
    throw new OnnxExportError(`${where}: config "${key}" is not a pair of positive integers`);
  }
  return pair as number[];
}
function requireChannelsLast(config: Config, where: string): void {
  const format = config.dataFormat;
  if (format !== undefined && format !== null && format !== "channelsLast") {
    throw new OnnxExportError(`${where}: data format "${String(format)}" is not supported (channelsLast only)`);
  }
}
function requireRank(input: Current, rank: number, where: string): void {
  if (input.shape.length !== rank)
    throw new OnnxExportError(`${where}: expected a rank-${rank} input, got rank ${input.shape.length}`);
}

function valueInfo(name: string, shape: (number | null)[]): ValueInfoInit {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: shape.map((dim) => (dim === null ? { dimParam: ONNX_BATCH_DIM } : { dimValue: dim })) },
      },
    },
  };
}

type AttributeValue = number | number[] | { float: number };

class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProtoInit[] = [];
  readonly inputs: ValueInfoInit[] = [];
  readonly outputs: ValueInfoInit[] = [];
  private readonly used = new Set<string>([ONNX_INPUT, ONNX_PROBABILITIES, ONNX_EMBEDDING]);

  private unique(name: string): string {
    let candidate = name;
    for (let n = 1; this.used.has(candidate); n += 1) candidate = `${name}_${n}`;
    this.used.add(candidate);
    return candidate;
  }

  node(opType: string, inputs: string[], output: string, attributes: Record<string, AttributeValue> = {}): string {
    const name = this.unique(output);
    this.nodes.push(
      onnx.NodeProto.create({
        name,
        opType,
        input: inputs,
        output: [name],
        attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
      }),
    );
    return name;
  }

  initializer(name: string, dims: number[], values: Float32Array): string {
    const unique = this.unique(name);
    const expected = dims.reduce((a, b) => a * b, 1);
    if (expected !== values.length)
      throw new OnnxExportError(`initializer ${name}: ${values.length} values for shape [${dims.join(", ")}]`);
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    values.forEach((value, index) => view.setFloat32(index * 4, value, true)); // ONNX raw_data is little-endian
    this.initializers.push({ name: unique, dims, dataType: DataType.FLOAT, rawData: bytes });
    return unique;
  }

  toNchw(input: Current, layerName: string): Current {
    if (input.layout !== "nhwc") return input;
    return {
      ...input,
      layout: "nchw",
      name: this.node("Transpose", [input.name], `${layerName}/to_nchw`, { perm: [0, 3, 1, 2] }),
    };
  }

  toNhwc(input: Current, layerName: string): Current {
    if (input.layout !== "nchw") return input;
    return {
      ...input,
      layout: "nhwc",
      name: this.node("Transpose", [input.name], `${layerName}/to_nhwc`, { perm: [0, 2, 3, 1] }),
    };
  }
}

function attribute(name: string, value: AttributeValue): AttributeInit {
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (typeof value === "number") return { name, type: AttributeType.INT, i: value };
  return { name, type: AttributeType.FLOAT, f: value.float };
}
