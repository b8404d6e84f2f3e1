import { test } from "node:test";
import assert from "node:assert/strict";
import type { StageTimings } from "@taj/extractor";
import { summarise, table } from "../src/face-stages.ts";

const unit = (...xs: number[]) => {
  const n = Math.hypot(...xs);
  return Float32Array.from(xs.map((x) => x / n));
};
const ms = (landmarksMs: number): StageTimings => ({ decodeMs: 1, detectMs: 2, landmarksMs, embedMs: 4 });

test("face stages: genuine and impostor pairs, rank-1 with its misses, IOD ratio and stage medians", () => {
  const images = [
    { identity: "a", file: "a0.jpg", bytes: Buffer.alloc(0) },
    { identity: "a", file: "a1.jpg", bytes: Buffer.alloc(0) },
    { identity: "b", file: "b0.jpg", bytes: Buffer.alloc(0) },
    { identity: "b", file: "b1.jpg", bytes: Buffer.alloc(0) },
  ];
  // a1 lies nearer b's portrait than a's: one miss in two probes.
  const extracted = [unit(1, 0), unit(0.2, 1), unit(0, 1), unit(0.1, 1)].map((template, i) => ({ template, interOcularPx: 40 + i }));
  const first = extracted.map((e) => ({ ...e, interOcularPx: e.interOcularPx / 1.1 }));
  const large = { extractions: 1, refused: 0, msPerStage: { decodeMs: 0, detectMs: 0, landmarksMs: 0, embedMs: 0, totalMs: 0 } };
  const r = summarise("x", 0, images, extracted, first, [ms(1), ms(3), ms(5)], [10, 20, 30], large);
  assert.equal(r.images, 4);
  assert.equal(r.genuine.pairs, 2);
  assert.equal(r.impostor.pairs, 4);
  assert.equal(r.rank1, 0.5);
  assert.equal(r.misses.length, 1);
  assert.match(r.misses[0]!, /^a\/a1\.jpg \(own 0\.196 < b 0\.981\)$/);
  assert.equal(r.interOcularVsFirst, 1.1);
  assert.equal(r.msPerStage.landmarksMs, 3);
  assert.equal(r.msPerStage.totalMs, 20);
  assert.match(table([r]), /^variant .*\nx +4 /);
  // An image no template came from is left out of every pair.
  assert.equal(summarise("y", 0, images, [extracted[0], undefined, extracted[2], extracted[3]], first, [], [], large).genuine.pairs, 1);
});
