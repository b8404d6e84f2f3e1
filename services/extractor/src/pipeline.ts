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
}

/** Lets a pipeline stop between stages when the caller's deadline has passed. */
export type StageGuard = () => void;

/** One modality's way from decoded pixels to a template. */
export interface Pipeline {
  readonly modelId: string;
  extract(image: RgbImage, faceBox: PixelBox | undefined, timings: StageTimings, guard: StageGuard): Promise<PipelineResult>;
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
