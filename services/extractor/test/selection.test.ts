import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorCode } from "@taj/proto";
import { contenders, selectFace, type DetectedFace } from "../src/face/selection.ts";
import { rejectsWith } from "./fixtures.ts";

const rules = { contenderMargin: 0.1, boxMinIou: 0.3 };

/** A detection whose shown box is the detection itself: enough for choosing among them. */
function face(x: number, size: number, score: number): DetectedFace {
  const r = { x1: x, y1: 100, x2: x + size, y2: 100 + size };
  return { detection: { ...r, score }, box: r };
}

const choose = async (...args: Parameters<typeof selectFace>) => selectFace(...args);

test("a larger box the detector is unsure of does not make a one-person photo MULTIPLE_FACES", () => {
  const real = face(500, 150, 0.9999);
  const spurious = face(100, 400, 0.709);
  assert.equal(selectFace([spurious, real], undefined, rules), real);
  assert.deepEqual(contenders([spurious, real], rules.contenderMargin), [real]);
});

test("faces within the margin of the best are all contenders: MULTIPLE_FACES lists them left to right", async () => {
  // Scores as measured on a 0.6x rendering of sample4: the weakest real face is 0.069 below the best.
  const faces = [face(900, 150, 0.9935), face(100, 150, 0.9308), face(500, 150, 0.9996), face(300, 150, 0.998), face(1300, 90, 0.70)];
  const err = await rejectsWith(choose(faces, undefined, rules), ErrorCode.MULTIPLE_FACES);
  assert.deepEqual(err.faces.map((f) => f.xPx), [100, 300, 500, 900]);
  assert.match(err.message, /^4 faces/);
});

test("the margin is the rule: a face just inside it counts, one just outside does not", async () => {
  const best = face(0, 100, 0.99);
  assert.equal(contenders([best, face(300, 100, 0.8901)], 0.1).length, 2);
  assert.equal(contenders([best, face(300, 100, 0.8899)], 0.1).length, 1);
  // With no margin only detections tied with the best are contenders.
  await rejectsWith(choose([best, face(300, 100, 0.99)], undefined, { ...rules, contenderMargin: 0 }), ErrorCode.MULTIPLE_FACES);
  assert.equal(selectFace([best, face(300, 100, 0.989)], undefined, { ...rules, contenderMargin: 0 }), best);
});

test("face_box picks the detection it overlaps, contender or not; a box over nothing is BOX_MATCHES_NO_FACE", async () => {
  const real = face(500, 150, 0.9999);
  const weak = face(100, 150, 0.7);
  assert.equal(selectFace([real, weak], { x: 90, y: 95, width: 170, height: 160 }, rules), weak);
  assert.equal(selectFace([real, weak], { x: 505, y: 105, width: 140, height: 140 }, rules), real);
  await rejectsWith(choose([real, weak], { x: 1000, y: 900, width: 100, height: 100 }, rules), ErrorCode.BOX_MATCHES_NO_FACE);
});

test("no detection is NO_FACE, with or without face_box", async () => {
  await rejectsWith(choose([], undefined, rules), ErrorCode.NO_FACE);
  await rejectsWith(choose([], { x: 0, y: 0, width: 10, height: 10 }, rules), ErrorCode.NO_FACE);
});
