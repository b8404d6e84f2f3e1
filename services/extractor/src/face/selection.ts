import { create } from "@bufbuild/protobuf";
import { BoxSchema, ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";
import type { EyePair, PixelBox } from "../pipeline.ts";
import { iou, type Detection, type Rect } from "./boxes.ts";

export interface DetectedFace {
  detection: Detection;
  /** The square box the landmark model sees, clipped to the image: what callers are shown. */
  box: Rect;
}

export interface SelectionRules {
  /** Detections scoring more than this below the image's best are not taken for faces of their own. */
  contenderMargin: number;
  /** A caller's face_box picks the detected face it overlaps best, if IoU reaches this. */
  boxMinIou: number;
}

/**
 * The faces an image is taken to hold: those scoring within the margin of its best detection.
 * A background box the detector is unsure of must not turn a one-person photo into
 * MULTIPLE_FACES, nor be offered to the caller beside the real faces.
 */
export function contenders<T extends { detection: Detection }>(faces: readonly T[], margin: number): T[] {
  const best = Math.max(...faces.map((f) => f.detection.score));
  return faces.filter((f) => f.detection.score >= best - margin);
}

/**
 * Without face_box: the one contender, or MULTIPLE_FACES listing every contender left to right.
 * With face_box: the detection it overlaps best, contender or not (the caller chose it; the
 * face-quality check then judges it).
 */
export function selectFace(faces: readonly DetectedFace[], faceBox: PixelBox | undefined, rules: SelectionRules): DetectedFace {
  if (faces.length === 0) throw new AppError(ErrorCode.NO_FACE, "no face was found in the image");
  if (faceBox === undefined) {
    const candidates = contenders(faces, rules.contenderMargin).sort((a, b) => a.box.x1 - b.box.x1);
    const [only] = candidates;
    if (candidates.length === 1 && only !== undefined) return only;
    throw new AppError(ErrorCode.MULTIPLE_FACES, `${candidates.length} faces were found; send face_box to choose one`, {
      faces: candidates.map((f) => create(BoxSchema, boxMessage(f.box))),
      faceDetectionScores: candidates.map((f) => f.detection.score),
    });
  }
  const wanted: Rect = { x1: faceBox.x, y1: faceBox.y, x2: faceBox.x + faceBox.width, y2: faceBox.y + faceBox.height };
  let best: DetectedFace | undefined;
  let bestIou = 0;
  for (const f of faces) {
    // The caller may send back our square box or the detector's own: accept either.
    const overlap = Math.max(iou(f.box, wanted), iou(f.detection, wanted));
    if (overlap > bestIou) {
      best = f;
      bestIou = overlap;
    }
  }
  if (best === undefined || bestIou < rules.boxMinIou) {
    throw new AppError(ErrorCode.BOX_MATCHES_NO_FACE, "face_box does not match any face found in the image");
  }
  return best;
}

function boxMessage(r: Rect) {
  return { xPx: r.x1, yPx: r.y1, widthPx: r.x2 - r.x1, heightPx: r.y2 - r.y1 };
}

/**
 * Among several contenders, the one whose box holds both eye centres an exchange record gives;
 * undefined when there is only one face (nothing to choose) or not exactly one holds them.
 */
export function faceAtEyes(
  faces: readonly DetectedFace[], eyes: EyePair, rules: SelectionRules,
): DetectedFace | undefined {
  const candidates = faces.length === 0 ? [] : contenders(faces, rules.contenderMargin);
  if (candidates.length < 2) return undefined;
  const holds = (r: Rect, p: { x: number; y: number }) => p.x >= r.x1 && p.x <= r.x2 && p.y >= r.y1 && p.y <= r.y2;
  const matching = candidates.filter((f) => eyes.every((e) => holds(f.box, e)));
  return matching.length === 1 ? matching[0] : undefined;
}
