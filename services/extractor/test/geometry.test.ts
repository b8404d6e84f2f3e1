import { test } from "node:test";
import assert from "node:assert/strict";
import { affineFromThreePoints, applyAffine, invertAffine, similarityTransform, warpAffine, type Point } from "../src/geometry.ts";
import { ARCFACE_REFERENCE } from "../src/pipeline-config.ts";

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test("similarity transform recovers a known rotation, scale and translation exactly", () => {
  // x' = 2 R(30deg) x + (5, -3)
  const theta = Math.PI / 6, s = 2;
  const src: Point[] = [[0, 0], [10, 0], [0, 10], [7, 3], [-4, 9]];
  const dst = src.map(([x, y]): Point => [s * (Math.cos(theta) * x - Math.sin(theta) * y) + 5, s * (Math.sin(theta) * x + Math.cos(theta) * y) - 3]);
  const m = similarityTransform(src, dst);
  close(m[0], s * Math.cos(theta));
  close(m[1], -s * Math.sin(theta));
  close(m[3], s * Math.sin(theta));
  close(m[4], s * Math.cos(theta));
  close(m[2], 5);
  close(m[5], -3);
});

test("similarity transform is the least-squares fit on a hand-solved case", () => {
  // Square corners onto a square twice as big, with one destination corner pushed out by (1, 1).
  const src: Point[] = [[-1, -1], [1, -1], [1, 1], [-1, 1]];
  const dst: Point[] = [[-2, -2], [2, -2], [3, 3], [-2, 2]];
  const m = similarityTransform(src, dst);
  // mean dst = (0.25, 0.25); centred dst = (-2.25,-2.25) (1.75,-2.25) (2.75,2.75) (-2.25,1.75)
  // dot = sum(u . v) = 4.5 + 4 + 5.5 + 4 = 18 ; norm = sum |u|^2 = 8 ; a = 18 / 8 = 2.25
  // cross = sum(ux*vy - uy*vx) = (2.25-2.25) + (-2.25+1.75) + (2.75-2.75) + (-1.75+2.25) = 0
  // t = mean dst - a * mean src = (0.25, 0.25)
  close(m[0], 2.25);
  close(m[1], 0);
  close(m[2], 0.25);
  close(m[5], 0.25);
  // It never reflects: mirrored points give the best rotation, not a mirror.
  const mirrored = similarityTransform(src, src.map(([x, y]): Point => [-x, y]));
  assert.ok(mirrored[0] * mirrored[4] - mirrored[1] * mirrored[3] >= 0);
});

test("five reference points map onto themselves; a scaled, moved face maps back onto them", () => {
  const ref = ARCFACE_REFERENCE as Point[];
  const face = ref.map(([x, y]): Point => [3 * x + 100, 3 * y + 40]);
  const m = similarityTransform(face, ref);
  for (const [i, p] of face.entries()) {
    const [x, y] = applyAffine(m, p);
    close(x, ref[i]![0], 1e-6);
    close(y, ref[i]![1], 1e-6);
  }
});

test("three-point affine and inverse are exact", () => {
  const src: Point[] = [[1, 2], [5, 3], [2, 8]];
  const dst: Point[] = [[10, 10], [30, 12], [9, 40]];
  const m = affineFromThreePoints(src, dst);
  for (const [i, p] of src.entries()) {
    const q = applyAffine(m, p);
    close(q[0], dst[i]![0], 1e-9);
    close(q[1], dst[i]![1], 1e-9);
    const back = applyAffine(invertAffine(m), q);
    close(back[0], p[0], 1e-9);
    close(back[1], p[1], 1e-9);
  }
  assert.throws(() => affineFromThreePoints([[0, 0], [1, 1], [2, 2]], dst));
});

test("warpAffine shifts pixels by an integer translation and fills outside with black", () => {
  const width = 4, height = 3;
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) data.fill(i * 10, i * 3, i * 3 + 3);
  const out = warpAffine({ width, height, data }, [1, 0, -1, 0, 1, 0], 4, 3); // crop(x) = image(x + 1)
  for (let y = 0; y < 3; y++) {
    for (let x = 0; x < 4; x++) {
      const expected = x + 1 < width ? (y * width + x + 1) * 10 : 0;
      assert.equal(out[(y * 4 + x) * 3], expected, `pixel ${x},${y}`);
    }
  }
});
