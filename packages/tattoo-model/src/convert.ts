// Converts the trunk of a Keras (TF.js layers) functional model, up to and including one layer, to
// an ONNX graph. Keras is NHWC; the ONNX graph is NCHW end to end: input [1, C, H, W], output the
// cut layer's feature map [1, C', H', W']. Kernels are transposed to ONNX's [out, in/group, kh, kw];
// a BatchNormalization that follows a convolution is folded into that convolution's weights and
// bias (inference only: the trunk is frozen). Only the layer types and options the nsfwjs trunks
// use are known; anything else is an error that names the layer, never a guess.
import { z } from "zod";
import type { Attribute, Graph, Node, Tensor } from "./onnx.ts";
import type { Weight } from "./nsfwjs.ts";

const inbound = z.tuple([z.string(), z.number(), z.number()]).rest(z.unknown());
const layerSchema = z.object({
  name: z.string(),
  class_name: z.string(),
  config: z.record(z.string(), z.unknown()),
  inbound_nodes: z.array(z.array(inbound)),
});
type Layer = z.infer<typeof layerSchema>;
const modelConfig = z.object({ class_name: z.literal("Model"), config: z.object({ layers: z.array(layerSchema) }) });

const pair = z.tuple([z.number().int(), z.number().int()]);
const channelsLast = z.literal("channels_last").optional();
const convCommon = {
  kernel_size: pair,
  strides: pair,
  padding: z.enum(["valid", "same"]),
  data_format: channelsLast,
  dilation_rate: z.tuple([z.literal(1), z.literal(1)]),
  activation: z.literal("linear"),
  use_bias: z.boolean(),
};
const configs = {
  InputLayer: z.object({ batch_input_shape: z.tuple([z.null(), z.number().int().nullable(), z.number().int().nullable(), z.number().int()]) }),
  ZeroPadding2D: z.object({ padding: z.tuple([pair, pair]), data_format: channelsLast }),
  Conv2D: z.object({ ...convCommon, filters: z.number().int() }),
  DepthwiseConv2D: z.object({ ...convCommon, depth_multiplier: z.number().int() }),
  BatchNormalization: z.object({
    axis: z.union([z.literal(-1), z.literal(3), z.tuple([z.literal(3)])]),
    epsilon: z.number(),
    center: z.boolean(),
    scale: z.boolean(),
  }),
  ReLU: z.object({ max_value: z.number().nullable(), negative_slope: z.literal(0), threshold: z.literal(0) }),
  Activation: z.object({ activation: z.literal("relu") }),
  MaxPooling2D: z.object({ pool_size: pair, strides: pair, padding: z.enum(["valid", "same"]), data_format: channelsLast }),
  AveragePooling2D: z.object({ pool_size: pair, strides: pair, padding: z.enum(["valid", "same"]), data_format: channelsLast }),
  Add: z.object({}),
  Concatenate: z.object({ axis: z.union([z.literal(-1), z.literal(3)]) }),
} as const;
type Known = keyof typeof configs;
const isKnown = (c: string): c is Known => Object.hasOwn(configs, c);

export interface ConvertOptions {
  /** The Keras model_config ({class_name: "Model", config: {layers}}). */
  modelConfig: unknown;
  weights: Map<string, Weight>;
  /** Last layer kept: its output is the graph's output. */
  cut: string;
  /** Input height and width; defaults to the InputLayer's batch_input_shape. */
  inputSize?: [number, number];
}

export interface Converted {
  graph: Graph;
  inputName: string;
  outputName: string;
  /** NCHW, batch 1. */
  inputShape: number[];
  outputShape: number[];
}

/** A value in the ONNX graph: its name and its [C, H, W] shape. */
interface Value {
  name: string;
  shape: [number, number, number];
}

/** A convolution already emitted, kept open so a following BatchNormalization can fold into it. */
interface Conv {
  weight: Tensor & { data: Float32Array };
  bias: Tensor & { data: Float32Array };
  node: Node;
  layer: string;
}

const INPUT = "input";

export function convertKerasTrunk(options: ConvertOptions): Converted {
  const layers = modelConfig.parse(options.modelConfig).config.layers;
  const byName = new Map(layers.map((l) => [l.name, l]));
  if (!byName.has(options.cut)) throw new Error(`no layer named ${options.cut} in the model`);
  const kept = ancestors(options.cut, byName);
  const consumers = new Map<string, number>();
  for (const l of layers) if (kept.has(l.name)) for (const src of sources(l)) consumers.set(src, (consumers.get(src) ?? 0) + 1);

  const nodes: Node[] = [];
  const initializers: Tensor[] = [];
  const values = new Map<string, Value>();
  const convs = new Map<string, Conv>();
  let inputShape: number[] | undefined;

  const weight = (layer: string, suffix: string): Weight => {
    const w = options.weights.get(`${layer}/${suffix}`);
    if (!w) throw new Error(`layer ${layer}: weight ${layer}/${suffix} is missing from the weight manifest`);
    return w;
  };
  const input = (l: Layer, index = 0): Value => {
    const src = sources(l)[index]!;
    const v = values.get(src);
    if (!v) throw new Error(`layer ${l.name}: its input ${src} comes later in the model's layer list (not in topological order)`);
    return v;
  };
  const constant = (t: Tensor): string => {
    initializers.push(t);
    return t.name;
  };

  for (const l of layers) {
    if (!kept.has(l.name)) continue;
    const kind = l.class_name;
    if (!isKnown(kind)) {
      throw new Error(`layer ${l.name}: Keras layer type ${kind} is not supported by the converter (known: ${Object.keys(configs).join(", ")})`);
    }
    const parsed = configs[kind].safeParse(l.config);
    if (!parsed.success) throw new Error(`layer ${l.name} (${kind}): unsupported configuration: ${z.prettifyError(parsed.error)}`);
    if (kind !== "InputLayer" && l.inbound_nodes.length !== 1) throw new Error(`layer ${l.name}: a layer must be called exactly once (it has ${l.inbound_nodes.length} inbound nodes)`);

    switch (kind) {
      case "InputLayer": {
        const [, h, w, c] = configs.InputLayer.parse(l.config).batch_input_shape;
        const [height, width] = options.inputSize ?? [h, w];
        if (height === null || width === null) throw new Error(`layer ${l.name}: the input has no fixed size: pass inputSize`);
        if (inputShape) throw new Error(`layer ${l.name}: the trunk has more than one input; one image in is supported`);
        inputShape = [1, c, height, width];
        values.set(l.name, { name: INPUT, shape: [c, height, width] });
        break;
      }
      case "ZeroPadding2D": {
        const [[top, bottom], [left, right]] = configs.ZeroPadding2D.parse(l.config).padding;
        const x = input(l);
        const pads = constant({ name: `${l.name}/pads`, dims: [8], data: BigInt64Array.from([0, 0, top, left, 0, 0, bottom, right].map(BigInt)) });
        nodes.push({ name: l.name, opType: "Pad", inputs: [x.name, pads], outputs: [l.name], attributes: [] });
        values.set(l.name, { name: l.name, shape: [x.shape[0], x.shape[1] + top + bottom, x.shape[2] + left + right] });
        break;
      }
      case "Conv2D":
      case "DepthwiseConv2D": {
        const x = input(l);
        const cin = x.shape[0];
        const cfg = kind === "Conv2D" ? configs.Conv2D.parse(l.config) : configs.DepthwiseConv2D.parse(l.config);
        const [kh, kw] = cfg.kernel_size;
        const [sh, sw] = cfg.strides;
        const kernel = weight(l.name, kind === "Conv2D" ? "kernel" : "depthwise_kernel");
        const { data, cout, group } =
          "filters" in cfg ? conv2dKernel(kernel, [kh, kw, cin, cfg.filters], l.name) : depthwiseKernel(kernel, [kh, kw, cin, cfg.depth_multiplier], l.name);
        const bias = new Float32Array(cout);
        if (cfg.use_bias) bias.set(expectShape(weight(l.name, "bias"), [cout], l.name).values);
        const [oh, top, bottom] = padding(x.shape[1], kh, sh, cfg.padding);
        const [ow, left, right] = padding(x.shape[2], kw, sw, cfg.padding);
        const w: Conv["weight"] = { name: `${l.name}/W`, dims: [cout, cin / group, kh, kw], data };
        const b: Conv["bias"] = { name: `${l.name}/B`, dims: [cout], data: bias };
        const attributes: Attribute[] = [
          { name: "dilations", ints: [1, 1] },
          { name: "group", int: group },
          { name: "kernel_shape", ints: [kh, kw] },
          { name: "pads", ints: [top, left, bottom, right] },
          { name: "strides", ints: [sh, sw] },
        ];
        const node: Node = { name: l.name, opType: "Conv", inputs: [x.name, constant(w), constant(b)], outputs: [l.name], attributes };
        nodes.push(node);
        convs.set(l.name, { weight: w, bias: b, node, layer: l.name });
        values.set(l.name, { name: l.name, shape: [cout, oh, ow] });
        break;
      }
      case "BatchNormalization": {
        const cfg = configs.BatchNormalization.parse(l.config);
        const x = input(l);
        const src = sources(l)[0]!;
        const conv = convs.get(src);
        if (!conv || consumers.get(src) !== 1) {
          throw new Error(`layer ${l.name}: a BatchNormalization is folded into the convolution it follows; ${src} is not a convolution used only here`);
        }
        const c = x.shape[0];
        const ones = { shape: [c], values: new Float32Array(c).fill(1) };
        const zeros = { shape: [c], values: new Float32Array(c) };
        const gamma = cfg.scale ? expectShape(weight(l.name, "gamma"), [c], l.name).values : ones.values;
        const beta = cfg.center ? expectShape(weight(l.name, "beta"), [c], l.name).values : zeros.values;
        const mean = expectShape(weight(l.name, "moving_mean"), [c], l.name).values;
        const variance = expectShape(weight(l.name, "moving_variance"), [c], l.name).values;
        foldBatchNorm(conv, gamma, beta, mean, variance, cfg.epsilon);
        // The BatchNormalization's output is the convolution's, renamed so the graph reads like the Keras model.
        conv.node.outputs = [l.name];
        conv.node.name = `${conv.layer}+${l.name}`;
        convs.delete(src);
        values.set(l.name, { name: l.name, shape: x.shape });
        break;
      }
      case "Activation": {
        const x = input(l);
        nodes.push({ name: l.name, opType: "Relu", inputs: [x.name], outputs: [l.name], attributes: [] });
        values.set(l.name, { name: l.name, shape: x.shape });
        break;
      }
      case "MaxPooling2D":
      case "AveragePooling2D": {
        const cfg = configs[kind].parse(l.config);
        const x = input(l);
        const [kh, kw] = cfg.pool_size;
        const [sh, sw] = cfg.strides;
        const [oh, top, bottom] = padding(x.shape[1], kh, sh, cfg.padding);
        const [ow, left, right] = padding(x.shape[2], kw, sw, cfg.padding);
        const attributes: Attribute[] = [
          { name: "kernel_shape", ints: [kh, kw] },
          { name: "pads", ints: [top, left, bottom, right] },
          { name: "strides", ints: [sh, sw] },
        ];
        // TensorFlow averages over the pixels inside the image only, as ONNX does with count_include_pad 0.
        if (kind === "AveragePooling2D") attributes.unshift({ name: "count_include_pad", int: 0 });
        const opType = kind === "MaxPooling2D" ? "MaxPool" : "AveragePool";
        nodes.push({ name: l.name, opType, inputs: [x.name], outputs: [l.name], attributes });
        values.set(l.name, { name: l.name, shape: [x.shape[0], oh, ow] });
        break;
      }
      case "Concatenate": {
        const xs = sources(l).map((_, i) => input(l, i));
        // Keras concatenates NHWC channels (axis 3), which is axis 1 in NCHW.
        nodes.push({ name: l.name, opType: "Concat", inputs: xs.map((x) => x.name), outputs: [l.name], attributes: [{ name: "axis", int: 1 }] });
        values.set(l.name, { name: l.name, shape: [xs.reduce((n, x) => n + x.shape[0], 0), xs[0]!.shape[1], xs[0]!.shape[2]] });
        break;
      }
      case "ReLU": {
        const { max_value } = configs.ReLU.parse(l.config);
        const x = input(l);
        const inputs = [x.name];
        if (max_value !== null) {
          inputs.push(constant({ name: `${l.name}/min`, dims: [], data: Float32Array.of(0) }));
          inputs.push(constant({ name: `${l.name}/max`, dims: [], data: Float32Array.of(max_value) }));
        }
        nodes.push({ name: l.name, opType: max_value === null ? "Relu" : "Clip", inputs, outputs: [l.name], attributes: [] });
        values.set(l.name, { name: l.name, shape: x.shape });
        break;
      }
      case "Add": {
        const xs = sources(l).map((_, i) => input(l, i));
        let acc = xs[0]!.name;
        for (let i = 1; i < xs.length; i++) {
          const out = i === xs.length - 1 ? l.name : `${l.name}/${i}`;
          nodes.push({ name: out, opType: "Add", inputs: [acc, xs[i]!.name], outputs: [out], attributes: [] });
          acc = out;
        }
        values.set(l.name, { name: l.name, shape: xs[0]!.shape });
        break;
      }
    }
  }
  if (!inputShape) throw new Error(`layer ${options.cut} does not descend from an InputLayer`);
  const out = values.get(options.cut)!;
  const outputShape = [1, ...out.shape];
  return {
    graph: {
      name: `keras-trunk-${options.cut}`,
      nodes,
      initializers,
      inputs: [{ name: INPUT, dims: inputShape }],
      outputs: [{ name: out.name, dims: outputShape }],
    },
    inputName: INPUT,
    outputName: out.name,
    inputShape,
    outputShape,
  };
}

function sources(l: Layer): string[] {
  return (l.inbound_nodes[0] ?? []).map(([name]) => name);
}

/** The cut and every layer it depends on. */
function ancestors(cut: string, byName: Map<string, Layer>): Set<string> {
  const kept = new Set<string>();
  const stack = [cut];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (kept.has(name)) continue;
    const layer = byName.get(name);
    if (!layer) throw new Error(`layer ${name} is an input of another layer but is not in the model`);
    kept.add(name);
    stack.push(...sources(layer));
  }
  return kept;
}

/**
 * Output size and [before, after] padding along one axis, as TensorFlow computes them: 'same'
 * pads (k - 1) in total at stride 1; at stride 2 the odd pixel goes after (bottom/right), which
 * ONNX can only express with explicit pads.
 */
export function padding(n: number, k: number, s: number, mode: "valid" | "same"): [number, number, number] {
  if (mode === "valid") return [Math.floor((n - k) / s) + 1, 0, 0];
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + k - n, 0);
  const before = Math.floor(total / 2);
  return [out, before, total - before];
}

function expectShape(w: Weight, shape: number[], layer: string): Weight {
  if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`layer ${layer}: weight has shape [${w.shape}], expected [${shape}]`);
  }
  return w;
}

/** Keras Conv2D kernel [kh, kw, in, out] to ONNX [out, in, kh, kw]. */
function conv2dKernel(kernel: Weight, shape: [number, number, number, number], layer: string): { data: Float32Array; cout: number; group: number } {
  const [kh, kw, cin, cout] = shape;
  const k = expectShape(kernel, shape, layer).values;
  const data = new Float32Array(k.length);
  for (let o = 0; o < cout; o++)
    for (let i = 0; i < cin; i++)
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) data[((o * cin + i) * kh + y) * kw + x] = k[((y * kw + x) * cin + i) * cout + o]!;
  return { data, cout, group: 1 };
}

/** Keras DepthwiseConv2D kernel [kh, kw, in, multiplier] to ONNX [in * multiplier, 1, kh, kw], group = in. */
function depthwiseKernel(kernel: Weight, shape: [number, number, number, number], layer: string): { data: Float32Array; cout: number; group: number } {
  const [kh, kw, cin, m] = shape;
  const k = expectShape(kernel, shape, layer).values;
  const data = new Float32Array(k.length);
  // Keras orders a depthwise output channel as in * multiplier + j, as ONNX's grouped Conv does.
  for (let i = 0; i < cin; i++)
    for (let j = 0; j < m; j++)
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) data[((i * m + j) * kh + y) * kw + x] = k[((y * kw + x) * cin + i) * m + j]!;
  return { data, cout: cin * m, group: cin };
}

/** y = gamma (conv(x) + b - mean) / sqrt(var + eps) + beta, as new weights and bias (doubles, then float32). */
function foldBatchNorm(conv: Conv, gamma: Float32Array, beta: Float32Array, mean: Float32Array, variance: Float32Array, epsilon: number): void {
  const w = conv.weight.data;
  const b = conv.bias.data;
  const cout = b.length;
  const per = w.length / cout;
  for (let o = 0; o < cout; o++) {
    const s = gamma[o]! / Math.sqrt(variance[o]! + epsilon);
    for (let j = o * per; j < (o + 1) * per; j++) w[j] = w[j]! * s;
    b[o] = beta[o]! + (b[o]! - mean[o]!) * s;
  }
}
