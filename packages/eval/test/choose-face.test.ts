import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { BoxSchema } from "@taj/proto";
import { chooseFace } from "../src/templates.ts";

const box = (x: number, side: number) => create(BoxSchema, { xPx: x, yPx: 0, widthPx: side, heightPx: side });

test("a larger but less confident box does not win over the real face (the held-out photo's case)", () => {
  const background = box(0, 300), face = box(400, 120);
  assert.equal(chooseFace([background, face], [0.962, 1.0]), face);
});

test("faces as sure as the best (within 0.02): the largest; without scores: the largest", () => {
  const small = box(0, 100), large = box(200, 180), unsure = box(500, 400);
  assert.equal(chooseFace([small, large, unsure], [0.999, 0.985, 0.9]), large);
  assert.equal(chooseFace([small, large, unsure], []), unsure);
  assert.equal(chooseFace([], []), undefined);
});
