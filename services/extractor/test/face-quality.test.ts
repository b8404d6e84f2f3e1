import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";
import type { Point } from "../src/geometry.ts";
import { eyeCentres, interOcularDistance } from "../src/face/landmarks.ts";
import { checkFaceQuality, geometryProblem } from "../src/face/quality.ts";
import { loadModalities } from "../src/pipeline-config.ts";

const face = loadModalities(undefined).face;
if (face?.kind !== "face") throw new Error("the built-in config has a face pipeline");
const config = face.quality;
const box = { x1: 0, y1: 0, x2: 200, y2: 200 };

/**
 * 68 points of an upright face in `box`: eye contours whose lids lean towards the nose, so that
 * an eye's centre (mean of its six points) is not the midpoint of its corners.
 */
function landmarks(over: { eyes?: [Point, Point]; nose?: Point; mouthY?: number; stray?: Point } = {}): Point[] {
  const [left, right] = over.eyes ?? [[70, 80], [130, 80]];
  const points: Point[] = Array.from({ length: 68 }, (): Point => [100, 110]);
  const eye = (c: Point, inward: number): Point[] => [
    [c[0] - 12 * inward, c[1]], [c[0] - 2 * inward, c[1] - 5], [c[0] + 6 * inward, c[1] - 5],
    [c[0] + 12 * inward, c[1]], [c[0] + 6 * inward, c[1] + 5], [c[0] - 2 * inward, c[1] + 5],
  ];
  eye(left, 1).forEach((p, i) => (points[36 + i] = p));
  eye(right, -1).forEach((p, i) => (points[42 + i] = p));
  points[30] = over.nose ?? [100, 115];
  const mouthY = over.mouthY ?? 150;
  points[48] = points[60] = [75, mouthY];
  points[54] = points[64] = [125, mouthY];
  if (over.stray !== undefined) points[8] = over.stray;
  return points;
}

test("inter-ocular distance is between the eye centres (mean of the six contour points), not corners", () => {
  const points = landmarks();
  const [left, right] = eyeCentres(points);
  // The lid points lean inwards: each centre sits 4/3 px nearer the nose than its corners' midpoint.
  assert.ok(Math.abs(left[0] - (70 + 4 / 3)) < 1e-9 && Math.abs(left[1] - 80) < 1e-9);
  assert.ok(Math.abs(right[0] - (130 - 4 / 3)) < 1e-9);
  assert.ok(Math.abs(interOcularDistance(points) - (60 - 8 / 3)) < 1e-9);
  const cornerMidpoints = Math.hypot((points[42]![0] + points[45]![0]) / 2 - (points[36]![0] + points[39]![0]) / 2, 0);
  assert.ok(Math.abs(cornerMidpoints - 60) < 1e-9, "the corner midpoints are 60 px apart; the centres are not");
  assert.throws(() => interOcularDistance(points.slice(0, 67)));
});

test("a face-shaped set of points passes the geometry check, tilted 20 degrees too", () => {
  assert.equal(geometryProblem(box, landmarks(), config), undefined);
  const t = (20 * Math.PI) / 180, c: Point = [100, 100];
  const turn = ([x, y]: Point): Point => [c[0] + Math.cos(t) * (x - c[0]) - Math.sin(t) * (y - c[1]), c[1] + Math.sin(t) * (x - c[0]) + Math.cos(t) * (y - c[1])];
  assert.equal(geometryProblem(box, landmarks().map(turn), config), undefined);
});

test("implausible landmark geometry is named", () => {
  const cases: [string, Point[], RegExp][] = [
    ["nose above the eyes", landmarks({ nose: [100, 60] }), /one above the other/],
    ["mouth above the nose", landmarks({ mouthY: 105 }), /one above the other/],
    ["eyes swapped", landmarks({ eyes: [[130, 80], [70, 80]] }), /side by side/],
    ["eyes too close", landmarks({ eyes: [[95, 80], [105, 80]] }), /box width apart/],
    ["eyes too far apart", landmarks({ eyes: [[20, 80], [180, 80]] }), /box width apart/],
    ["a point far outside", landmarks({ stray: [100, 260] }), /outside the face box/],
  ];
  for (const [name, points, message] of cases) assert.match(geometryProblem(box, points, config) ?? "", message, name);
});

test("the check is FACE_QUALITY_LOW with the reason: a low detection score, or bad geometry", () => {
  const refuse = (score: number, points: Point[]) => {
    try {
      checkFaceQuality(score, box, points, config);
    } catch (err) {
      const e = AppError.from(err);
      assert.equal(e.code, ErrorCode.FACE_QUALITY_LOW);
      return e.message;
    }
    return undefined;
  };
  assert.equal(refuse(0.99, landmarks()), undefined);
  assert.match(refuse(0.7, landmarks()) ?? "", /detection score 0\.700 is below 0\.85/);
  assert.match(refuse(0.99, landmarks({ nose: [100, 60] })) ?? "", /not a usable face: the eyes, nose and mouth/);
});
