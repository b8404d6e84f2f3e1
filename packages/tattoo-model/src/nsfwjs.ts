// Reads a Keras TF.js layers model out of the npm package nsfwjs@4.4.0 (MIT). nsfwjs embeds each
// model as browserify bundles under dist/models/<model>/: model.min.js exports the model JSON
// ({modelTopology, weightsManifest}) and group1-shard<i>of<n>.min.js exports that weight shard as
// a base64 string. nsfwjs's own loader (dist/cjs/core.js, JSONHandler) requires them the same way,
// decodes the base64 and concatenates the shards in manifest order; so does this.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { z } from "zod";

const require = createRequire(import.meta.url);

export type NsfwjsModel = "mobilenet_v2" | "mobilenet_v2_mid" | "inception_v3";

const quantization = z.object({ dtype: z.literal("uint8"), scale: z.number(), min: z.number() });
const weightSpec = z.object({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.literal("float32"),
  // Every model nsfwjs ships is quantised to uint8; anything else is refused rather than guessed.
  quantization,
});
export type WeightSpec = z.infer<typeof weightSpec>;

const modelJson = z.object({
  modelTopology: z.object({ model_config: z.unknown() }).passthrough(),
  weightsManifest: z.array(z.object({ paths: z.array(z.string()), weights: z.array(weightSpec) })),
});

/** What the package holds, as TF.js's io.ModelArtifacts would carry it. */
export interface ModelArtifacts {
  modelTopology: Record<string, unknown> & { model_config: unknown };
  weightSpecs: WeightSpec[];
  /** Every shard, concatenated in manifest order. */
  weightData: Uint8Array;
}

/** nsfwjs's own directory. Its package.json `exports` hide both package.json and dist/models. */
function packageRoot(): string {
  const entry = require.resolve("nsfwjs");
  const marker = "/node_modules/nsfwjs/";
  const at = entry.lastIndexOf(marker);
  if (at < 0) throw new Error(`nsfwjs resolved to ${entry}, outside a node_modules/nsfwjs directory`);
  return entry.slice(0, at + marker.length - 1);
}

export function modelDirectory(model: NsfwjsModel): string {
  return join(packageRoot(), "dist", "models", model);
}

export function loadArtifacts(model: NsfwjsModel): ModelArtifacts {
  const dir = modelDirectory(model);
  const json = modelJson.parse(require(join(dir, "model.min.js")));
  const shards: Uint8Array[] = [];
  const weightSpecs: WeightSpec[] = [];
  for (const group of json.weightsManifest) {
    for (const path of group.paths) {
      const base64: unknown = require(join(dirname(join(dir, "model.min.js")), `${path}.min.js`));
      if (typeof base64 !== "string") throw new Error(`nsfwjs shard ${path} of ${model} is not a base64 string`);
      shards.push(Buffer.from(base64, "base64"));
    }
    weightSpecs.push(...group.weights);
  }
  const weightData = new Uint8Array(shards.reduce((n, s) => n + s.byteLength, 0));
  let offset = 0;
  for (const s of shards) {
    weightData.set(s, offset);
    offset += s.byteLength;
  }
  return { modelTopology: json.modelTopology, weightSpecs, weightData };
}

export interface Weight {
  shape: number[];
  values: Float32Array;
}

/**
 * Every weight by name, dequantised as TF.js does (io_utils decodeWeights): value = q * scale + min,
 * computed in doubles and stored as float32. Weights follow each other in manifest order, one
 * byte per value.
 */
export function decodeWeights(artifacts: ModelArtifacts): Map<string, Weight> {
  const weights = new Map<string, Weight>();
  const data = artifacts.weightData;
  let offset = 0;
  for (const spec of artifacts.weightSpecs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const { scale, min } = spec.quantization;
    if (offset + count > data.byteLength) throw new Error(`weight ${spec.name} runs past the end of the weight data`);
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = data[offset + i]! * scale + min;
    weights.set(spec.name, { shape: spec.shape, values });
    offset += count;
  }
  return weights;
}
