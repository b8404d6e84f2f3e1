// The trunks this package builds: which nsfwjs model, where to cut, at what input size.
import { createHash } from "node:crypto";
import { convertKerasTrunk, type Converted } from "./convert.ts";
import { decodeWeights, loadArtifacts, type NsfwjsModel } from "./nsfwjs.ts";
import { encodeModel } from "./onnx.ts";

export interface TrunkSpec {
  model: NsfwjsModel;
  cut: string;
  inputSize: [number, number];
  /** File name of the built model. */
  file: string;
  /** sha256 of the built file: the conversion is deterministic, so any other hash is a defect. */
  sha256: string;
}

/** MobileNetV2 up to block_10_expand_relu: the frozen (ImageNet) part of nsfwjs's MobileNetV2. Input RGB scaled x/255. */
export const MOBILENET_V2_BLOCK10: TrunkSpec = {
  model: "mobilenet_v2",
  cut: "block_10_expand_relu",
  inputSize: [224, 224],
  file: "mobilenet_v2-block10.onnx",
  sha256: "5828184e3e0cdb73fa1d2c02433b0e56c764922bcb51f701889e6e3f84d58722",
};

/**
 * InceptionV3 up to mixed4: the best trunk measured for tattoos (issue 9: rank-1 89.6 % at 299x299
 * with GeM). Input RGB scaled x/255; output 768 channels, 17x17 at 299.
 */
export const INCEPTION_V3_MIXED4: TrunkSpec = {
  model: "inception_v3",
  cut: "mixed4",
  inputSize: [299, 299],
  file: "inception_v3-mixed4.onnx",
  sha256: "5d7768f95e143931cb016081ac33dac44db9a957030cff56f1cfb30a5051a3fa",
};

export const TRUNKS: readonly TrunkSpec[] = [MOBILENET_V2_BLOCK10, INCEPTION_V3_MIXED4];

// ONNX IR version 8 with opset 13: Pad and Clip take their constants as inputs; onnxruntime
// 1.30 reads both.
const IR_VERSION = 8;
const OPSET = 13;

export interface BuiltTrunk extends Converted {
  bytes: Uint8Array;
  sha256: string;
}

export function buildTrunk(spec: TrunkSpec): BuiltTrunk {
  const artifacts = loadArtifacts(spec.model);
  const converted = convertKerasTrunk({
    modelConfig: artifacts.modelTopology.model_config,
    weights: decodeWeights(artifacts),
    cut: spec.cut,
    inputSize: spec.inputSize,
  });
  const bytes = encodeModel({
    irVersion: IR_VERSION,
    opsetVersion: OPSET,
    producerName: "@taj/tattoo-model",
    producerVersion: "0.1.0",
    docString:
      `nsfwjs@4.4.0 (MIT) ${spec.model} up to ${spec.cut}. Input ${converted.inputName} NCHW ` +
      `[${converted.inputShape}], RGB scaled x/255; output ${converted.outputName} NCHW [${converted.outputShape}].`,
    graph: converted.graph,
  });
  return { ...converted, bytes, sha256: createHash("sha256").update(bytes).digest("hex") };
}
