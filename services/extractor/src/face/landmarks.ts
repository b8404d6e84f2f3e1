import type { RgbImage } from "../decode.ts";
import { warpAffine, type Point } from "../geometry.ts";
import type { FacePipelineConfig } from "../pipeline-config.ts";
import { loadModel, outputData, run, type ModelSession } from "../tensor.ts";
import * as ort from "onnxruntime-node";
import type { Rect } from "./boxes.ts";

type LandmarkConfig = FacePipelineConfig["landmarks"];

/** 68-point landmark model (iBUG 300-W layout) on a grey square crop of the face box. */
export class LandmarkModel {
  private constructor(
    private readonly model: ModelSession,
    private readonly config: LandmarkConfig,
  ) {}

  static async load(config: LandmarkConfig, threads: number): Promise<LandmarkModel> {
    return new LandmarkModel(await loadModel(config.model, threads), config);
  }

  /**
   * The 68 points in image pixels. `box` should be the square face box. With `jitter` set, the
   * points are averaged over slightly shifted and scaled boxes, as the model's answer moves with
   * the box; measured, that did not pay for its 7 passes, so one pass is the default.
   */
  async predict(image: RgbImage, box: Rect): Promise<Point[]> {
    const size = box.x2 - box.x1;
    const jitters = this.config.jitter > 0 ? [[0, 0, 1], [-1, 0, 1], [1, 0, 1], [0, -1, 1], [0, 1, 1], [0, 0, 0.95], [0, 0, 1.05]] : [[0, 0, 1]];
    const sum = Array.from({ length: 68 }, () => [0, 0]);
    for (const [dx, dy, scale] of jitters as [number, number, number][]) {
      const cx = (box.x1 + box.x2) / 2 + dx * this.config.jitter * size;
      const cy = (box.y1 + box.y2) / 2 + dy * this.config.jitter * size;
      const half = (size * scale) / 2;
      const points = await this.predictOnce(image, { x1: cx - half, y1: cy - half, x2: cx + half, y2: cy + half });
      for (const [i, p] of points.entries()) {
        sum[i]![0]! += p[0];
        sum[i]![1]! += p[1];
      }
    }
    return sum.map(([x, y]): Point => [x! / jitters.length, y! / jitters.length]);
  }

  private async predictOnce(image: RgbImage, box: Rect): Promise<Point[]> {
    const size = this.config.size;
    const scale = size / (box.x2 - box.x1);
    const rgb = warpAffine(image, [scale, 0, -box.x1 * scale, 0, size / (box.y2 - box.y1), -box.y1 * (size / (box.y2 - box.y1))], size, size);
    const grey = new Float32Array(size * size);
    for (let i = 0; i < grey.length; i++) {
      const luma = 0.299 * rgb[i * 3]! + 0.587 * rgb[i * 3 + 1]! + 0.114 * rgb[i * 3 + 2]!;
      grey[i] = Math.round(luma) / this.config.divisor;
    }
    const outputs = await run(this.model, new ort.Tensor("float32", grey, [1, 1, size, size]));
    const raw = outputData(outputs, this.model.session.outputNames[0] ?? "output");
    if (raw.length !== 136) throw new Error(`landmark model returned ${raw.length} values, expected 136`);
    const w = box.x2 - box.x1, h = box.y2 - box.y1;
    const points: Point[] = [];
    for (let i = 0; i < 68; i++) points.push([box.x1 + raw[i * 2]! * w, box.y1 + raw[i * 2 + 1]! * h]);
    return points;
  }
}

function mean(points: readonly Point[], indices: readonly number[]): Point {
  let x = 0, y = 0;
  for (const i of indices) {
    x += points[i]![0];
    y += points[i]![1];
  }
  return [x / indices.length, y / indices.length];
}

/** 0-based indices of each eye's six contour points in the iBUG 300-W 68-point layout. */
const LEFT_EYE = [36, 37, 38, 39, 40, 41];
const RIGHT_EYE = [42, 43, 44, 45, 46, 47];

/**
 * Each eye's centre, as ISO/IEC 19794-5 places it: the mean of the eye's contour points (both
 * corners and the four lid points), never a corner. Left and right as they appear in the image.
 */
export function eyeCentres(landmarks: readonly Point[]): [Point, Point] {
  if (landmarks.length !== 68) throw new Error("expected 68 landmarks");
  return [mean(landmarks, LEFT_EYE), mean(landmarks, RIGHT_EYE)];
}

/**
 * The inter-ocular distance in image pixels: between the two eye centres (ISO/IEC 19794-5),
 * which Quality.inter_ocular_px reports and minInterOcularPx bounds.
 */
export function interOcularDistance(landmarks: readonly Point[]): number {
  const [left, right] = eyeCentres(landmarks);
  return distance(left, right);
}

/**
 * Left eye, right eye (the eye centres above), nose tip, left and right mouth corners (mean of
 * the outer and inner lip corner), as "left/right" appear in the image.
 */
export function fivePoints(landmarks: readonly Point[]): Point[] {
  const [left, right] = eyeCentres(landmarks);
  return [left, right, landmarks[30]!, mean(landmarks, [48, 60]), mean(landmarks, [54, 64])];
}

export function distance(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}
