export { buildTrunk, MOBILENET_V2_BLOCK10, INCEPTION_V3_MIXED4, TRUNKS, type TrunkSpec, type BuiltTrunk } from "./trunk.ts";
export { convertKerasTrunk, padding, type ConvertOptions, type Converted } from "./convert.ts";
export { loadArtifacts, decodeWeights, modelDirectory, type ModelArtifacts, type NsfwjsModel, type Weight, type WeightSpec } from "./nsfwjs.ts";
export { encodeModel, type Model, type Graph, type Node, type Tensor, type Attribute, type ValueInfo } from "./onnx.ts";
