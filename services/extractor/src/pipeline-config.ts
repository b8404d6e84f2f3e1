import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { FACE_TEMPLATE_DIMENSIONS, MAX_TEMPLATE_DIMENSIONS } from "@taj/common";

const positive = z.number().positive();
const rgbTriple = z.tuple([z.number(), z.number(), z.number()]);
const point = z.tuple([z.number(), z.number()]);

/** How a model wants its input tensor: NCHW float32, value = (pixel - mean[c]) / std[c]. */
const TensorInput = z.object({
  /** Absolute, or relative to the config file (or to the faceplugin package for the built-in). */
  model: z.string().min(1),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  channelOrder: z.enum(["rgb", "bgr"]).default("rgb"),
  mean: rgbTriple.default([127, 127, 127]),
  std: rgbTriple.default([128, 128, 128]),
});

/**
 * How a model's output becomes one vector. "flat": the output already is the embedding.
 * "gem": a [1, C, H, W] feature map, generalised-mean pooled over H x W per channel (C values);
 * p = 1 is average pooling, larger p leans towards max pooling.
 */
const Pooling = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("flat") }),
  z.object({ kind: z.literal("gem"), power: positive.max(16).default(3) }),
]);

// Bounded by what shards accept: a longer template would be refused by every shard.
const EmbedderInput = TensorInput.extend({
  dimensions: z.number().int().positive().max(MAX_TEMPLATE_DIMENSIONS),
  pooling: Pooling.default({ kind: "flat" }),
});

const FacePipeline = z.object({
  kind: z.literal("face"),
  /** Stored with every template: templates of different model ids are not comparable. */
  modelId: z.string().min(1),
  detector: TensorInput.extend({
    scoreThreshold: z.number().min(0).max(1).default(0.65),
    nmsIou: z.number().min(0).max(1).default(0.4),
    /**
     * Small faces vanish when a large photo is squeezed to the detector input, so the image is
     * also scanned in overlapping tiles, at most this many image pixels per detector pixel.
     * 0 disables tiling.
     */
    maxTileScale: z.number().min(0).default(3),
    tileOverlap: z.number().min(0).max(0.9).default(0.25),
    /** Bounds the detector runs per image; huge images get coarser tiles instead. */
    maxTiles: z.number().int().min(1).default(12),
    /** Tile detections taller than this fraction of the tile are left to the full-image pass. */
    tileMaxFaceFraction: z.number().min(0).max(1).default(0.4),
    /**
     * The image is shrunk once, to the finest resolution any pass uses, when that is at least
     * this many times smaller; below it the passes cut their regions from the decoded image.
     */
    minReduction: z.number().min(1).default(1.5),
    /**
     * Detections scoring more than this below the image's best are not faces of their own (not
     * counted for MULTIPLE_FACES nor listed). Measured on the sample photos and 7 renderings
     * each (0.4x, 0.6x, JPEG q25/q10, 6 deg, blur, grey): real faces scored at most 0.069 below
     * the best face of their photo (0.931 beside 0.9996, 0.6x), spurious boxes 0.29 and 0.35.
     */
    contenderMargin: z.number().min(0).max(1).default(0.1),
  }),
  landmarks: z.object({
    model: z.string().min(1),
    size: z.number().int().positive().default(64),
    /** Grey value = luma / divisor. */
    divisor: positive.default(256),
    /**
     * Box shift, as a fraction of its size, for averaging the points over 7 boxes; 0 = one pass.
     * Off by default: on the sample-face set 7 passes moved the genuine median by 0.0008 for
     * about 10x the landmark time (bench/results/face-stages.txt).
     */
    jitter: z.number().min(0).max(0.2).default(0),
  }),
  embedder: EmbedderInput,
  alignment: z.object({
    method: z.enum(["five-point-similarity", "three-point-affine"]),
    /** Left eye, right eye, nose tip, left and right mouth corners, in embedder input pixels. */
    reference: z.array(point).length(5),
  }),
  /** Between the eye centres, each the mean of its six contour landmarks (ISO/IEC 19794-5). */
  minInterOcularPx: positive.default(32),
  /**
   * The face-quality check (FACE_QUALITY_LOW). Bounds set from the 22 sample faces, with room:
   * their lowest detection score was 0.931 (0.6x rescaled), eye distance 0.16-0.41 of the box
   * width, nose 0.12+ and mouth 0.07+ box widths below the eyes and the mouth respectively,
   * points at most 0.05 box widths outside the box.
   */
  quality: z
    .object({
      minDetectionScore: z.number().min(0).max(1).default(0.85),
      minEyeDistanceRatio: z.number().min(0).max(1).default(0.12),
      maxEyeDistanceRatio: z.number().min(0).max(2).default(0.6),
      /** Least step, in box widths, from the eye line down to the nose and from nose to mouth. */
      minFeatureGap: z.number().min(0).max(1).default(0.02),
      /** How far, in box widths, a landmark may fall outside the face box. */
      boxSlack: z.number().min(0).max(1).default(0.15),
    })
    .prefault({}),
  /** A caller's face_box picks the detected face it overlaps best, if IoU reaches this. */
  boxMinIou: z.number().min(0).max(1).default(0.3),
});

/**
 * For modalities without landmarks (tattoo, mark): the caller's box (clipped to the image), else
 * the whole image squashed to the model input, or its central square.
 */
const CropPipeline = z.object({
  kind: z.literal("crop"),
  modelId: z.string().min(1),
  alignment: z.object({ method: z.enum(["center-crop", "whole-image"]) }),
  embedder: EmbedderInput,
  quality: z
    .object({
      /** The region's shorter side, in image pixels, below which it is REGION_TOO_SMALL. */
      minRegionSidePx: z.number().int().min(1).default(64),
      /** Luma standard deviation over the model input, as a fraction of full scale: below = IMAGE_NEAR_UNIFORM. */
      minContrast: z.number().min(0).max(0.5).default(0.006),
    })
    .prefault({}),
});

export const PipelineConfig = z.discriminatedUnion("kind", [FacePipeline, CropPipeline]);
export type PipelineConfig = z.infer<typeof PipelineConfig>;
export type FacePipelineConfig = z.infer<typeof FacePipeline>;
export type CropPipelineConfig = z.infer<typeof CropPipeline>;
export type TensorInputConfig = z.infer<typeof TensorInput>;
export type EmbedderConfig = z.infer<typeof EmbedderInput>;

/** Keyed by modality name ("face", "tattoo", "mark"); a missing modality is unsupported. */
export const ModalitiesConfig = z.object({
  face: PipelineConfig.optional(),
  tattoo: PipelineConfig.optional(),
  mark: PipelineConfig.optional(),
  /**
   * During a model upgrade (docs/model-upgrade.md): further pipelines of a modality, each with its
   * own modelId, chosen by ExtractRequest.model_id; the modality's entry above stays the default.
   */
  moreModels: z
    .object({ face: z.array(PipelineConfig).max(2).optional(), tattoo: z.array(PipelineConfig).max(2).optional(), mark: z.array(PipelineConfig).max(2).optional() })
    .optional(),
});
export type ModalitiesConfig = z.infer<typeof ModalitiesConfig>;

/** ArcFace's canonical five points in a 112x112 crop. */
export const ARCFACE_REFERENCE: [number, number][] = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];

/**
 * Where `npm run build:tattoo-model` writes the tattoo and mark trunks (git-ignored; the
 * extractor's image ships the directory at the same place under /app).
 */
export const BUILT_MODEL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", ".run", "models");

/** The build step that writes BUILT_MODEL_DIR's files, named in the start-up error when one is missing. */
const BUILD_HINT = "npm run build:tattoo-model";

/**
 * InceptionV3 cut after mixed4 (frozen ImageNet weights, from nsfwjs), GeM-pooled: measured best
 * of the trunks tried on real tattoo photos (issue 9); input RGB x/255 and the region squashed
 * to a square both beat the alternatives there.
 */
function trunkPipeline(): z.input<typeof CropPipeline> {
  return {
    kind: "crop",
    modelId: "keras-inceptionv3-mixed4-gem3-299/whole-v1",
    alignment: { method: "whole-image" },
    embedder: {
      model: join(BUILT_MODEL_DIR, "inception_v3-mixed4.onnx"),
      width: 299,
      height: 299,
      mean: [0, 0, 0],
      std: [255, 255, 255],
      dimensions: 768,
      pooling: { kind: "gem", power: 3 },
    },
  };
}

/**
 * The built-in pipelines: face on the models of faceplugin-face-recognition-js, tattoo and mark on
 * the built trunk. Relative paths are the faceplugin package's.
 */
export const DEFAULT_MODALITIES: z.input<typeof ModalitiesConfig> = {
  face: {
    kind: "face",
    modelId: "faceplugin-fr-feature-512/align5-v1",
    detector: { model: "model/fr_detect.onnx", width: 320, height: 240 },
    landmarks: { model: "model/fr_landmark.onnx" },
    embedder: { model: "model/fr_feature.onnx", width: 112, height: 112, dimensions: FACE_TEMPLATE_DIMENSIONS },
    alignment: { method: "five-point-similarity", reference: ARCFACE_REFERENCE },
  },
  tattoo: trunkPipeline(),
  mark: trunkPipeline(),
};

function faceplugInRoot(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve("faceplugin-face-recognition-js/package.json"));
}

/** Parses and validates a modalities config, and makes every model path absolute. */
export function parseModalities(raw: unknown, baseDir: string): ModalitiesConfig {
  const parsed = ModalitiesConfig.parse(raw);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  for (const [name, list] of Object.entries(pipelinesByModality(parsed))) {
    const ids = list.map((p) => p.modelId);
    if (new Set(ids).size !== ids.length) throw new Error(`${name}: two pipelines have one modelId (${ids.join(", ")}); each model needs its own`);
  }
  for (const pipeline of Object.values(pipelinesByModality(parsed)).flat()) {
    pipeline.embedder.model = abs(pipeline.embedder.model);
    if (pipeline.kind === "face") {
      pipeline.detector.model = abs(pipeline.detector.model);
      pipeline.landmarks.model = abs(pipeline.landmarks.model);
    }
  }
  return parsed;
}

/** Every model file a config names, so a missing one stops the start instead of the first request. */
export function modelPaths(config: ModalitiesConfig): string[] {
  return Object.values(pipelinesByModality(config)).flat().flatMap((p) =>
    p.kind === "face" ? [p.detector.model, p.landmarks.model, p.embedder.model] : [p.embedder.model],
  );
}

/** Each configured modality's pipelines, its default first, then its moreModels. */
export function pipelinesByModality(config: ModalitiesConfig): Record<string, PipelineConfig[]> {
  const out: Record<string, PipelineConfig[]> = {};
  for (const name of ["face", "tattoo", "mark"] as const) {
    const first = config[name];
    if (first !== undefined) out[name] = [first, ...(config.moreModels?.[name] ?? [])];
  }
  return out;
}

/** The config file named by MODALITIES_CONFIG, or the built-in pipelines; fails if a model file is missing. */
export function loadModalities(path: string | undefined): ModalitiesConfig {
  const config =
    path === undefined || path === ""
      ? parseModalities(DEFAULT_MODALITIES, faceplugInRoot())
      : parseModalities(JSON.parse(readFileSync(path, "utf8")) as unknown, dirname(resolve(path)));
  for (const model of modelPaths(config)) {
    if (existsSync(model)) continue;
    const hint = dirname(model) === BUILT_MODEL_DIR ? ` (run \`${BUILD_HINT}\` to build it)` : "";
    throw new Error(`model file ${model} does not exist${hint}`);
  }
  return config;
}
