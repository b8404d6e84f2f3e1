// The converter on small Keras models written here: every option it knows (bias, 'same' padding
// at stride 2 on an odd size, depth multiplier, BatchNormalization without scale or centre, ReLU
// with and without a cap, explicit ZeroPadding2D, an Add of three) checked against TF.js, and a
// clear error for everything it does not know.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { convertKerasTrunk, decodeWeights, encodeModel, loadArtifacts, padding, type ModelArtifacts, type WeightSpec } from "../src/index.ts";
import { compare, tfjsTrunk } from "./reference.ts";

type LayerJson = { name: string; class_name: string; config: Record<string, unknown>; inbound_nodes: unknown[] };

function layer(name: string, className: string, config: Record<string, unknown>, inputs: string[]): LayerJson {
  return { name, class_name: className, config: { name, trainable: false, ...config }, inbound_nodes: inputs.length ? [inputs.map((i) => [i, 0, 0, {}])] : [] };
}
const conv = (filters: number, k: number, s: number, pad: string, bias: boolean) => ({
  filters, kernel_size: [k, k], strides: [s, s], padding: pad, data_format: "channels_last", dilation_rate: [1, 1], activation: "linear", use_bias: bias,
});
const bn = (center: boolean, scale: boolean) => ({ axis: -1, epsilon: 0.001, momentum: 0.99, center, scale });

/**
 * 8x8x3 in (even, so stride-2 "same" pads unevenly); three branches to 4x4x6, added; then that
 * sum concatenated with two pooled branches of the input; and a "same" average pool, whose edge
 * windows average only the pixels inside the image in TensorFlow.
 */
function smallModel(): LayerJson[] {
  return [
    layer("x", "InputLayer", { batch_input_shape: [null, 8, 8, 3], dtype: "float32", sparse: false }, []),
    layer("conv_a", "Conv2D", conv(6, 3, 2, "same", true), ["x"]),
    layer("bn_a", "BatchNormalization", bn(true, false), ["conv_a"]),
    layer("relu_a", "ReLU", { max_value: null, negative_slope: 0, threshold: 0 }, ["bn_a"]),
    layer("dw_b", "DepthwiseConv2D", { ...conv(0, 3, 2, "same", true), depth_multiplier: 2 }, ["x"]),
    layer("bn_b", "BatchNormalization", bn(false, true), ["dw_b"]),
    layer("relu_b", "ReLU", { max_value: 6, negative_slope: 0, threshold: 0 }, ["bn_b"]),
    layer("pad_c", "ZeroPadding2D", { padding: [[1, 0], [0, 1]], data_format: "channels_last" }, ["x"]),
    layer("conv_c", "Conv2D", conv(6, 2, 2, "valid", false), ["pad_c"]),
    layer("bn_c", "BatchNormalization", bn(true, true), ["conv_c"]),
    layer("sum", "Add", {}, ["relu_a", "relu_b", "bn_c"]),
    layer("max_d", "MaxPooling2D", { pool_size: [3, 3], strides: [2, 2], padding: "same", data_format: "channels_last" }, ["x"]),
    layer("avg_e", "AveragePooling2D", { pool_size: [3, 3], strides: [2, 2], padding: "same", data_format: "channels_last" }, ["sum"]),
    layer("avg_f", "AveragePooling2D", { pool_size: [2, 2], strides: [2, 2], padding: "valid", data_format: "channels_last" }, ["x"]),
    layer("relu_f", "Activation", { activation: "relu" }, ["avg_f"]),
    layer("cat", "Concatenate", { axis: -1 }, ["sum", "max_d", "relu_f"]),
    layer("flat", "Flatten", { data_format: "channels_last" }, ["cat"]),
  ];
}

const shapes: Record<string, number[]> = {
  "conv_a/kernel": [3, 3, 3, 6], "conv_a/bias": [6],
  "dw_b/depthwise_kernel": [3, 3, 3, 2], "dw_b/bias": [6],
  "conv_c/kernel": [2, 2, 3, 6],
};
for (const [l, c] of [["bn_a", 6], ["bn_b", 6], ["bn_c", 6]] as const) {
  if (l !== "bn_a") shapes[`${l}/gamma`] = [c];
  if (l !== "bn_b") shapes[`${l}/beta`] = [c];
  shapes[`${l}/moving_mean`] = [c];
  shapes[`${l}/moving_variance`] = [c];
}

/** Deterministic uint8 weights, quantised as nsfwjs's are; variances stay positive. */
function artifactsFor(layers: LayerJson[]): ModelArtifacts {
  let seed = 12345;
  // The high byte of a 32-bit LCG: its low bits repeat with short periods.
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  const weightSpecs: WeightSpec[] = Object.entries(shapes).map(([name, shape]) => ({
    name, shape, dtype: "float32",
    quantization: { dtype: "uint8", scale: 0.01, min: name.endsWith("variance") || name.endsWith("gamma") ? 0.3 : -1 },
  }));
  const total = weightSpecs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  const weightData = Uint8Array.from({ length: total }, next);
  return { modelTopology: { class_name: "Model", model_config: { class_name: "Model", config: { name: "small", layers, input_layers: [["x", 0, 0]], output_layers: [["cat", 0, 0], ["avg_e", 0, 0]] } } }, weightSpecs, weightData };
}

function convert(layers: LayerJson[], cut = "sum", artifacts = artifactsFor(layers), inputSize?: [number, number]) {
  return convertKerasTrunk({ modelConfig: artifacts.modelTopology.model_config, weights: decodeWeights(artifacts), cut, ...(inputSize ? { inputSize } : {}) });
}

test("TensorFlow's 'same' padding puts the odd pixel after", () => {
  assert.deepEqual(padding(7, 3, 2, "same"), [4, 1, 1]);
  assert.deepEqual(padding(224, 3, 2, "same"), [112, 0, 1]);
  assert.deepEqual(padding(14, 1, 1, "same"), [14, 0, 0]);
  assert.deepEqual(padding(225, 3, 2, "valid"), [112, 0, 0]);
});

test("a small model with every supported option matches TF.js", async () => {
  const layers = smallModel();
  const artifacts = artifactsFor(layers);
  const converted = convert(layers, "sum", artifacts);
  assert.deepEqual(converted.outputShape, [1, 6, 4, 4]);
  assert.deepEqual(converted.graph.nodes.map((n) => n.opType), ["Conv", "Relu", "Conv", "Clip", "Pad", "Conv", "Add", "Add"]);
  const nhwc = Float32Array.from({ length: 8 * 8 * 3 }, (_, i) => ((i * 37) % 101) / 100);
  const nchw = new Float32Array(nhwc.length);
  for (let p = 0; p < 64; p++) for (let c = 0; c < 3; c++) nchw[c * 64 + p] = nhwc[p * 3 + c]!;
  // Each branch on its own too, so one branch cannot hide another's error.
  for (const cut of ["relu_a", "relu_b", "bn_c", "sum", "avg_e", "cat"]) {
    const graph = convert(layers, cut, artifacts).graph;
    const bytes = encodeModel({ irVersion: 8, opsetVersion: 13, producerName: "test", producerVersion: "0", docString: "", graph });
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    const out = (await session.run({ input: new ort.Tensor("float32", nchw, [1, 3, 8, 8]) }))[cut]!.data as Float32Array;
    await session.release();
    const reference = await tfjsTrunk(artifacts, cut, nhwc, [1, 8, 8, 3]);
    const { maxAbs, cosine, maxRef } = compare(out, reference);
    assert.ok(maxRef > 0.3, `${cut}: largest activation ${maxRef}`);
    assert.ok(maxAbs < 1e-4 && cosine > 0.99999, `${cut}: max abs ${maxAbs}, cosine ${cosine}`);
  }
  const cat = convert(layers, "cat", artifacts);
  assert.deepEqual(cat.outputShape, [1, 12, 4, 4]);
  assert.deepEqual(cat.graph.nodes.slice(-4).map((n) => n.opType), ["MaxPool", "AveragePool", "Relu", "Concat"]);
  // A larger input than the InputLayer declares, when asked for.
  assert.deepEqual(convert(layers, "sum", artifacts, [9, 9]).outputShape, [1, 6, 5, 5]);
});

test("a layer type the converter does not know is an error naming the layer and the type", () => {
  assert.throws(() => convert(smallModel(), "flat"), /layer flat: Keras layer type Flatten is not supported by the converter \(known: InputLayer, .*Concatenate\)/);
  // nsfwjs's own MobileNetV2 past the frozen trunk: its classifier head is not a trunk layer.
  const real = loadArtifacts("mobilenet_v2");
  assert.throws(
    () => convertKerasTrunk({ modelConfig: real.modelTopology.model_config, weights: decodeWeights(real), cut: "dense_3" }),
    /layer flatten_1: Keras layer type Flatten is not supported/,
  );
});

test("unsupported options, shapes and graphs are errors, not guesses", () => {
  const edit = (name: string, change: (l: LayerJson) => void): LayerJson[] => {
    const layers = smallModel();
    change(layers.find((l) => l.name === name)!);
    return layers;
  };
  assert.throws(() => convert(smallModel(), "nope"), /no layer named nope/);
  assert.throws(() => convert(edit("conv_a", (l) => (l.config.dilation_rate = [2, 2]))), /layer conv_a \(Conv2D\): unsupported configuration/);
  assert.throws(() => convert(edit("relu_a", (l) => (l.config.negative_slope = 0.1))), /layer relu_a \(ReLU\): unsupported configuration/);
  assert.throws(() => convert(edit("relu_f", (l) => (l.config.activation = "tanh")), "cat"), /layer relu_f \(Activation\): unsupported configuration/);
  assert.throws(() => convert(edit("x", (l) => (l.config.batch_input_shape = [null, null, null, 3]))), /no fixed size: pass inputSize/);
  assert.throws(() => convert(edit("conv_a", (l) => l.inbound_nodes.push(l.inbound_nodes[0]))), /layer conv_a: a layer must be called exactly once \(it has 2 inbound nodes\)/);
  assert.throws(() => convert(edit("bn_c", (l) => (l.inbound_nodes = [[["relu_b", 0, 0, {}]]]))), /layer bn_c: a BatchNormalization is folded into the convolution it follows; relu_b is not/);
  assert.throws(() => convert(edit("sum", (l) => (l.inbound_nodes = [[["ghost", 0, 0, {}]]]))), /layer ghost is an input of another layer but is not in the model/);
  assert.throws(() => convert(edit("conv_a", (l) => (l.config.filters = 5))), /layer conv_a: weight has shape \[3,3,3,6\], expected \[3,3,3,5\]/);
  assert.throws(() => convert(edit("conv_c", (l) => (l.config.use_bias = true))), /layer conv_c: weight conv_c\/bias is missing from the weight manifest/);
  const reordered = smallModel();
  reordered.splice(1, 0, ...reordered.splice(2, 1)); // bn_a before conv_a
  assert.throws(() => convert(reordered), /layer bn_a: its input conv_a comes later in the model's layer list/);
  const twoInputs = smallModel();
  twoInputs.splice(1, 0, layer("y", "InputLayer", { batch_input_shape: [null, 8, 8, 3] }, []));
  twoInputs.find((l) => l.name === "dw_b")!.inbound_nodes = [[["y", 0, 0, {}]]];
  assert.throws(() => convert(twoInputs), /layer y: the trunk has more than one input/);
  const short = artifactsFor(smallModel());
  assert.throws(() => decodeWeights({ ...short, weightData: short.weightData.subarray(0, 10) }), /weight conv_a\/kernel runs past the end/);
});
