import { test } from "node:test";
import assert from "node:assert/strict";
import { Modality } from "@taj/proto";
import {
  applyProjection, cosine, decodeF16, encodeF16, learnProjection, linearMap, projectionMessage, projectionOf, seededRng, type Rng,
} from "../src/index.ts";

function gaussian(rand: Rng): number {
  return Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
}


/** Sample covariance of vectors, as rows of a dense d×d array. */
function covarianceOf(vectors: Float32Array[]): Float64Array[] {
  const d = vectors[0]!.length;
  const mean = new Float64Array(d);
  for (const v of vectors) for (let i = 0; i < d; i++) mean[i]! += v[i]! / vectors.length;
  const cov = Array.from({ length: d }, () => new Float64Array(d));
  for (const v of vectors) {
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cov[i]![j]! += ((v[i]! - mean[i]!) * (v[j]! - mean[j]!)) / (vectors.length - 1);
  }
  return cov;
}

/** Largest diagonal over smallest, and largest |correlation| off the diagonal. */
function distanceFromIdentity(cov: Float64Array[]): { diagonalSpread: number; worstCorrelation: number } {
  const diag = cov.map((row, i) => row[i]!);
  let worst = 0;
  cov.forEach((row, i) => row.forEach((c, j) => {
    if (i !== j) worst = Math.max(worst, Math.abs(c) / Math.sqrt(diag[i]! * diag[j]!));
  }));
  return { diagonalSpread: Math.max(...diag) / Math.min(...diag), worstCorrelation: worst };
}

/**
 * A Gaussian cloud off the origin with per-axis scales from 10 down to 0.1, in mixed axes (so the
 * strong directions are not the coordinates): the shape is fixed by `shapeSeed`, draws by `rand`.
 */
function anisotropic(shapeSeed: number, d: number) {
  const shape = seededRng(shapeSeed);
  const offset = Float64Array.from({ length: d }, () => 3 + gaussian(shape));
  const scales = Float64Array.from({ length: d }, (_, i) => 10 * 0.01 ** (i / (d - 1)));
  const mix = Array.from({ length: d }, () => Float64Array.from({ length: d }, () => gaussian(shape) / Math.sqrt(d)));
  return (rand: Rng, n: number): Float32Array[] => Array.from({ length: n }, () => {
    const z = Float64Array.from(scales, (s) => s * gaussian(rand));
    return Float32Array.from(offset, (o, i) => o + mix[i]!.reduce((sum, m, j) => sum + m * z[j]!, 0));
  });
}

test("f16: exact for representable values, within half an ulp otherwise, refuses what does not fit", () => {
  const exact = [0, 1, -2, 0.5, 65_504, -65_504, 2 ** -14, 2 ** -24, 3 * 2 ** -24, 1023.5, 0.333251953125];
  assert.deepEqual([...decodeF16(encodeF16(exact))], exact);
  assert.deepEqual([...encodeF16([1])], [0x00, 0x3c], "little-endian 0x3c00");
  const rand = seededRng(7);
  const values = Array.from({ length: 5000 }, () => (rand() - 0.5) * 2 ** (Math.floor(rand() * 30) - 14));
  const back = decodeF16(encodeF16(values));
  values.forEach((v, i) => {
    const ulp = Math.abs(v) >= 2 ** -14 ? 2 ** (Math.floor(Math.log2(Math.abs(v))) - 10) : 2 ** -24;
    assert.ok(Math.abs(back[i]! - v) <= ulp / 2 + 1e-30, `${v} came back as ${back[i]}`);
  });
  // Ties go to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
  assert.equal(decodeF16(encodeF16([1 + 2 ** -11]))[0], 1);
  assert.equal(decodeF16(encodeF16([1 + 3 * 2 ** -11]))[0], 1 + 2 ** -9);
  assert.throws(() => encodeF16([70_000]), /does not fit half precision/);
  assert.throws(() => encodeF16([Number.NaN]), /does not fit half precision/);
});

test("whitening: held-out anisotropic data comes out with a covariance proportional to the identity", () => {
  const d = 24;
  const draw = anisotropic(11, d);
  const train = draw(seededRng(1), 6000);
  const heldOut = draw(seededRng(2), 6000);
  const learned = learnProjection(train, 12, { regularization: 0 });
  assert.equal(learned.matrix.length, 12 * d);
  assert.ok(learned.eigenvalues[0]! > 20 * learned.eigenvalues[11]!, "the data is strongly anisotropic");
  // The same check on the input (first 12 coordinates, centred and normalised the same way) fails.
  const before = distanceFromIdentity(covarianceOf(heldOut.map((v) => linearMap({ ...learned, matrix: identityRows(12, d) }, v))));
  assert.ok(before.diagonalSpread > 5 || before.worstCorrelation > 0.5, `raw ${JSON.stringify(before)}`);
  const after = distanceFromIdentity(covarianceOf(heldOut.map((v) => linearMap(learned, v))));
  assert.ok(after.diagonalSpread < 1.25, `whitened spread ${after.diagonalSpread}`);
  assert.ok(after.worstCorrelation < 0.1, `whitened correlation ${after.worstCorrelation}`);
});

function identityRows(k: number, d: number): Float32Array {
  const m = new Float32Array(k * d);
  for (let r = 0; r < k; r++) m[r * d + r] = 1;
  return m;
}

/**
 * Tattoo-like embeddings: every one shares a large common direction (different classes at mean
 * cosine ~0.9, as measured on real tattoo templates), each class has its own small offset, and
 * each photo adds a strong nuisance (lighting, skin) in a few shared directions plus noise.
 */
function classes(rand: Rng, d: number, classCount: number, perClass: number) {
  const common = Float64Array.from({ length: d }, () => gaussian(rand));
  const nuisance = Array.from({ length: 6 }, () => Float64Array.from({ length: d }, () => gaussian(rand)));
  const centres = Array.from({ length: classCount }, () => Float64Array.from(common, (c) => c + 0.2 * gaussian(rand)));
  const samples: { label: number; vector: Float32Array }[] = [];
  centres.forEach((centre, label) => {
    for (let s = 0; s < perClass; s++) {
      const weights = nuisance.map(() => 0.12 * gaussian(rand));
      samples.push({
        label,
        vector: Float32Array.from(centre, (c, i) => c + weights.reduce((sum, w, k) => sum + w * nuisance[k]![i]!, 0) + 0.08 * gaussian(rand)),
      });
    }
  });
  return samples;
}

function evaluate(samples: { label: number; vector: Float32Array }[]) {
  let differentSum = 0;
  let differentCount = 0;
  let rank1 = 0;
  samples.forEach((q, i) => {
    let best = -Infinity;
    let bestLabel = -1;
    samples.forEach((c, j) => {
      if (i === j) return;
      const s = cosine(q.vector, c.vector);
      if (q.label !== c.label) {
        differentSum += s;
        differentCount++;
      }
      if (s > best) {
        best = s;
        bestLabel = c.label;
      }
    });
    if (bestLabel === q.label) rank1++;
  });
  return { differentMean: differentSum / differentCount, rank1: rank1 / samples.length };
}

test("a projection learned without labels on a sample separates classes it never saw", () => {
  const rand = seededRng(21);
  const d = 64;
  // One world (common direction, nuisances), split: a large unlabelled sample to learn from, and
  // classes held out for the evaluation.
  const world = classes(rand, d, 400, 2);
  const sample = world.slice(0, 600).map((s) => s.vector);
  const gallery = world.slice(600);
  const learned = learnProjection(sample, 48);
  const raw = evaluate(gallery);
  const projected = evaluate(gallery.map((s) => ({ label: s.label, vector: applyProjection(learned, s.vector) })));
  assert.ok(raw.differentMean > 0.85, `raw classes look alike: mean cosine ${raw.differentMean}`);
  assert.ok(Math.abs(projected.differentMean) < 0.1, `projected different classes: mean cosine ${projected.differentMean}`);
  assert.ok(projected.rank1 > raw.rank1 + 0.1, `rank-1 ${raw.rank1} -> ${projected.rank1}`);
});

test("applyProjection: unit output of the projection's dimensions; the wrong input length is refused", () => {
  const rand = seededRng(31);
  const draw = anisotropic(3, 16);
  const learned = learnProjection(draw(rand, 200), 8);
  const y = applyProjection(learned, draw(rand, 1)[0]!);
  assert.equal(y.length, 8);
  assert.ok(Math.abs(Math.hypot(...y) - 1) < 1e-5);
  assert.throws(() => applyProjection(learned, new Float32Array(15)), /takes 16/);
});

test("learnProjection refuses too few samples, mixed lengths and impossible dimensions", () => {
  const rand = seededRng(41);
  const data = anisotropic(4, 16)(rand, 10);
  assert.throws(() => learnProjection(data, 10), /more samples than dimensions/);
  assert.throws(() => learnProjection(data, 17), /between 1 and the input's 16/);
  assert.throws(() => learnProjection([...data, new Float32Array(15)], 4), /must have 16 values/);
  assert.throws(() => learnProjection([], 4), /no samples/);
});

test("the Projection message carries the map: half precision changes the output by a hair", () => {
  const rand = seededRng(51);
  const data = anisotropic(5, 32)(rand, 400);
  const learned = learnProjection(data, 16);
  const message = projectionMessage(learned, { modality: Modality.TATTOO, modelId: "m1", sampleSize: 400, createdBy: "ops" });
  assert.equal(message.matrixF16.length, 2 * 16 * 32);
  const decoded = projectionOf(message);
  for (const v of data.slice(0, 50)) assert.ok(cosine(applyProjection(learned, v), applyProjection(decoded, v)) > 0.9999);
  assert.throws(() => projectionOf({ ...message, mean: message.mean.slice(1) }), /mean has 31 values/);
  assert.throws(() => projectionOf({ ...message, matrixF16: message.matrixF16.slice(2) }), /matrix has/);
});
