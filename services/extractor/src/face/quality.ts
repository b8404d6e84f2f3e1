import { ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";
import type { Point } from "../geometry.ts";
import type { FacePipelineConfig } from "../pipeline-config.ts";
import type { Rect } from "./boxes.ts";
import { fivePoints } from "./landmarks.ts";

type QualityConfig = FacePipelineConfig["quality"];

/**
 * The face-quality check: is what was detected a usable face? The landmark model draws a face
 * shape on whatever it is shown, and templates of non-face boxes resemble one another more than
 * strangers' faces do, so a box the detector is unsure of, or whose points do not sit as a
 * face's do, must not become a template.
 */
export function checkFaceQuality(score: number, box: Rect, landmarks: readonly Point[], config: QualityConfig): void {
  const problem = detectionProblem(score, config) ?? geometryProblem(box, landmarks, config);
  if (problem !== undefined) throw new AppError(ErrorCode.FACE_QUALITY_LOW, `not a usable face: ${problem}`);
}

export function detectionProblem(score: number, config: QualityConfig): string | undefined {
  if (score >= config.minDetectionScore) return undefined;
  return `detection score ${score.toFixed(3)} is below ${config.minDetectionScore}`;
}

/**
 * Landmark geometry, in the face's own frame (the eye line as its x axis, so a tilted head is
 * judged upright): eyes above the nose above the mouth, the eyes a plausible fraction of the
 * box width apart, and every point inside the box give or take some slack.
 */
export function geometryProblem(box: Rect, landmarks: readonly Point[], config: QualityConfig): string | undefined {
  const [leftEye, rightEye, nose, leftMouth, rightMouth] = fivePoints(landmarks) as [Point, Point, Point, Point, Point];
  const width = box.x2 - box.x1;
  const ex = rightEye[0] - leftEye[0], ey = rightEye[1] - leftEye[1];
  const eyes = Math.hypot(ex, ey);
  if (!(width > 0) || !(eyes > 0) || ex <= 0) return "the eyes are not side by side";
  const ratio = eyes / width;
  if (ratio < config.minEyeDistanceRatio || ratio > config.maxEyeDistanceRatio) {
    return `the eyes are ${ratio.toFixed(2)} of the box width apart, outside ${config.minEyeDistanceRatio}-${config.maxEyeDistanceRatio}`;
  }
  // Depth below the eye line, along its downward normal (y grows downwards in images).
  const mid: Point = [(leftEye[0] + rightEye[0]) / 2, (leftEye[1] + rightEye[1]) / 2];
  const depth = (p: Point) => ((p[0] - mid[0]) * -ey + (p[1] - mid[1]) * ex) / eyes;
  const mouth: Point = [(leftMouth[0] + rightMouth[0]) / 2, (leftMouth[1] + rightMouth[1]) / 2];
  const gap = config.minFeatureGap * width;
  if (!(depth(nose) >= gap && depth(mouth) - depth(nose) >= gap)) return "the eyes, nose and mouth are not one above the other";
  const slack = config.boxSlack * width;
  const outside = landmarks.some(([x, y]) => x < box.x1 - slack || x > box.x2 + slack || y < box.y1 - slack || y > box.y2 + slack);
  if (outside) return "landmarks fall outside the face box";
  return undefined;
}
