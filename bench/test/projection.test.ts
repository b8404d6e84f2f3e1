import { test } from "node:test";
import assert from "node:assert/strict";
import { seededRng } from "@taj/common";
import { separation, withAndWithout, type Labelled } from "../src/projection/metrics.ts";

const v = (...xs: number[]) => Float32Array.from(xs);

test("separation: rank-1, TAR at FAR and the impostor mean, worked out by hand", () => {
  // a and b each enrolled once and probed once; c only enrolled.
  const gallery: Labelled[] = [{ identity: "a", template: v(1, 0) }, { identity: "b", template: v(0, 1) }, { identity: "c", template: v(1, 1) }];
  // a's probe is nearest a (cos 0.995 vs c 0.774); b's probe is nearest c (0.948 vs b 0.894): rank-1 = 1/2.
  const probes: Labelled[] = [{ identity: "a", template: v(1, 0.1) }, { identity: "b", template: v(0.5, 1) }];
  const m = separation(gallery, probes, [0.5, 0.001]);
  assert.equal(m.rank1, 0.5);
  assert.equal(m.genuinePairs, 2);
  assert.equal(m.impostorPairs, 8);
  // Impostor scores, best first: .948 .774 .707 .707 .534 .447 .0995 0 (mean .527). Genuine: .995 and .894.
  // FAR 0.5: 4 impostors may pass, so a score must beat the 5th (.534): both genuine pass.
  assert.equal(m.tarAtFar["0.5"], 1);
  // FAR 0.001: none may pass, a score must beat the best impostor (.948): only .995 does.
  assert.equal(m.tarAtFar["0.001"], 0.5);
  assert.ok(Math.abs(m.impostorMean - 0.527) < 0.001);
});

test("withAndWithout: raw first, then one row per size, learned on the gallery alone", () => {
  const rand = seededRng(3);
  const g = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const d = 32;
  const common = Array.from({ length: d }, g);
  const centres = Array.from({ length: 120 }, () => common.map((c) => c + 0.25 * g()));
  const photo = (c: number[]) => Float32Array.from(c, (x) => x + 0.1 * g());
  const gallery = centres.map((c, i) => ({ identity: String(i), template: photo(c) }));
  const probes = centres.slice(0, 40).map((c, i) => ({ identity: String(i), template: photo(c) }));
  const rows = withAndWithout(gallery, probes, [8, 24], [0.01]);
  assert.deepEqual(rows.map((r) => [r.label, r.dimensions]), [["raw", 32], ["centred + whitened", 8], ["centred + whitened", 24]]);
  assert.ok(rows[0]!.metrics.impostorMean > 0.85);
  assert.ok(Math.abs(rows[2]!.metrics.impostorMean) < 0.1);
  assert.ok(rows[2]!.metrics.rank1 >= rows[0]!.metrics.rank1);
});
