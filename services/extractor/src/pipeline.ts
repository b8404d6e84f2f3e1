import type { AppError } from "@taj/common";
import type { RgbImage } from "./decode.ts";

/** A box in image pixels, as in the proto: top-left corner and size. */
export interface PixelBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Quality {
  box: PixelBox;
  detectionScore: number;
  interOcularPx: number;
  /** Tattoo and mark: the region's luma standard deviation, as a fraction of full scale. */
  contrast?: number;
}

export interface StageTimings {
  decodeMs: number;
  detectMs: number;
  landmarksMs: number;
  embedMs: number;
}

export interface PipelineResult {
  template: Float32Array;
  quality: Quality;
  /** Face: the record's eye centres chose the face among several. */
  eyesUsed?: boolean;
}

/** One face of an every-face extraction: its template, or why it has none. */
export type FaceOutcome = PipelineResult | { error: AppError; quality: Quality };

export interface EveryFaceResult {
  /** Left to right, at most the limit asked. */
  faces: FaceOutcome[];
  /** How many faces the image holds (more than `faces` when over the limit). */
  found: number;
}

/** What the caller or the image's record says about where to look. */
export interface ExtractionHints {
  /** The caller's face_box: the face to use, or the tattoo's or mark's region. */
  faceBox?: PixelBox | undefined;
  /** Eye centres from an exchange record (image pixels): choose the face holding both. */
  eyes?: EyePair | undefined;
}

/** Two eye centres in image pixels (which is left or right does not matter here). */
export type EyePair = readonly [{ x: number; y: number }, { x: number; y: number }];

/** Lets a pipeline stop between stages when the caller's deadline has passed. */
export type StageGuard = () => void;

/** One modality's way from decoded pixels to a template. */
export interface Pipeline {
  readonly modelId: string;
  extract(image: RgbImage, hints: ExtractionHints, timings: StageTimings, guard: StageGuard): Promise<PipelineResult>;
  /** Only pipelines that find several subjects in one image (faces) have it. */
  extractEvery?(image: RgbImage, limit: number, timings: StageTimings, guard: StageGuard): Promise<EveryFaceResult>;
}

/** Runs `work`, adding its duration in ms to `timings[stage]`. */
export async function timed<T>(timings: StageTimings, stage: keyof StageTimings, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    timings[stage] += performance.now() - started;
  }
}
