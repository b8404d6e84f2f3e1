import { test } from "node:test";
import assert from "node:assert/strict";
import {
  cmc, detCurve, fnir, fnirAtFpir, histogram, nextUp, rankOfMate, summarise, tarAtFar, thresholdForRate,
  type MatedOutcome, type NonMatedTop,
} from "../src/metrics.ts";
import { scoreProtocol } from "../src/protocol.ts";

/*
 * A hand-made 1:N case. Gallery: A, B, C (one enrolled template each). Five mated probes; the
 * score of each probe against the gallery entries [A, B, C] is written by hand:
 *
 *   probe  mate  vs A   vs B   vs C   mate rank  mate score  non-mated top (gallery minus mate)
 *   a1     A     .80    .30    .20    1          .80         max(.30,.20) = .30
 *   a2     A     .40    .55    .10    2 (B > A)  .40         max(.55,.10) = .55
 *   b1     B     .25    .70    .35    1          .70         max(.25,.35) = .35
 *   c1     C     .15    .45    .60    1          .60         max(.15,.45) = .45
 *   c2     C     (no template)        miss       -           no candidate
 *
 * CMC: rank 1 = {a1,b1,c1} = 3/5 = 0.6; rank 2 adds a2 = 4/5 = 0.8; rank 3 = 0.8 (c2 never).
 * Non-mated tops, highest first: .55 .45 .35 .30 (+1 empty search) -> N = 5.
 * FPIR 0.2: 0.2*5 = 1 false positive allowed -> threshold just above the 2nd highest, .45;
 *   only .55 passes: FPIR = 1/5 = 0.2. Mates >= T: a1 .80, b1 .70, c1 .60 (all rank 1) ->
 *   FNIR(rank 1) = 2/5 = 0.4; at rank 2 a2 (.40) is below T -> still 0.4.
 * FPIR 0.4: 2 allowed -> threshold just above .35; .55 and .45 pass: FPIR = 0.4.
 *   Rank 1: a1, b1, c1 -> FNIR 0.4; rank 2: a2 .40 >= T too -> FNIR = 1/5 = 0.2.
 * FPIR 0.1: 0.1*5 = 0.5 < 1 false positive: not estimable from 5 searches.
 */
const rows: { mate: number; scores: number[] | null }[] = [
  { mate: 0, scores: [0.8, 0.3, 0.2] },
  { mate: 0, scores: [0.4, 0.55, 0.1] },
  { mate: 1, scores: [0.25, 0.7, 0.35] },
  { mate: 2, scores: [0.15, 0.45, 0.6] },
  { mate: 2, scores: null },
];
const outcomes: MatedOutcome[] = rows.map((r) => (r.scores === null ? null : rankOfMate(r.scores, r.mate)));
const nonMated: NonMatedTop[] = rows.map((r) =>
  r.scores === null ? null : Math.max(...r.scores.filter((_, i) => i !== r.mate)),
);

test("rank of the mate, with ties counted against it", () => {
  assert.deepEqual(outcomes.map((o) => o?.rank ?? null), [1, 2, 1, 1, null]);
  assert.deepEqual(nonMated, [0.3, 0.55, 0.35, 0.45, null]);
  // A tie with another entry puts the mate second, not first.
  assert.deepEqual(rankOfMate([0.5, 0.5, 0.1], 0), { rank: 2, score: 0.5 });
});

test("CMC over the hand-made searches", () => {
  assert.deepEqual(cmc(outcomes, 3), [0.6, 0.8, 0.8]);
});

test("FNIR at FPIR over the hand-made searches", () => {
  const table = fnirAtFpir(outcomes, nonMated, [0.1, 0.2, 0.4], [1, 2]);
  const pick = (fpir: number, rank: number) => table.find((r) => r.fpir === fpir && r.rank === rank)!;
  assert.equal(pick(0.1, 1).fnir, null, "5 non-mated searches cannot measure FPIR 0.1");
  assert.equal(pick(0.2, 1).threshold, nextUp(0.45));
  assert.equal(pick(0.2, 1).observedFpir, 0.2);
  assert.ok(Math.abs(pick(0.2, 1).fnir! - 0.4) < 1e-12);
  assert.ok(Math.abs(pick(0.2, 2).fnir! - 0.4) < 1e-12);
  assert.equal(pick(0.4, 1).threshold, nextUp(0.35));
  assert.equal(pick(0.4, 1).observedFpir, 0.4);
  assert.ok(Math.abs(pick(0.4, 1).fnir! - 0.4) < 1e-12);
  assert.ok(Math.abs(pick(0.4, 2).fnir! - 0.2) < 1e-12);
  // With no threshold at all every hit at rank 1 counts: 2 misses (a2 at rank 2, c2).
  assert.ok(Math.abs(fnir(outcomes, -Infinity, 1) - 0.4) < 1e-12);
});

test("DET points: FPIR steps at each non-mated top score, FNIR follows", () => {
  const det = detCurve(outcomes, nonMated, 1);
  // Thresholds: just above .55, then .55, .45, .35, .30.
  assert.deepEqual(det.map((p) => p.fpir), [0, 0.2, 0.4, 0.6, 0.8]);
  // Rank-1 mates .80 .70 .60 pass every one of these thresholds; a2 and c2 never do.
  for (const p of det) assert.ok(Math.abs(p.fnir - 0.4) < 1e-12);
});

/*
 * A hand-made 1:1 case: 4 genuine pairs, 10 impostor pairs.
 *   genuine : .90 .80 .60 .32
 *   impostor: .50 .35 .30 .25 .20 .15 .10 .05 0 -.10
 * FAR 0.1 -> 1 impostor allowed -> threshold just above .35 -> FAR 1/10; genuines >= T: .90 .80
 *   .60 (.32 does not) -> TAR 3/4 = 0.75.
 * FAR 0.2 -> 2 allowed -> just above .30 -> FAR 0.2; all four genuines pass -> TAR 1.
 * FAR 0.01 -> 0.1 impostor allowed -> not estimable from 10 pairs.
 */
test("TAR at FAR over hand-made pairs", () => {
  const genuine = [0.9, 0.8, 0.6, 0.32];
  const impostor = [0.5, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0, -0.1];
  const [far01, far02, far001] = tarAtFar(genuine, impostor, [0.1, 0.2, 0.01]);
  assert.deepEqual(far01, { far: 0.1, threshold: nextUp(0.35), observedFar: 0.1, tar: 0.75 });
  assert.deepEqual(far02, { far: 0.2, threshold: nextUp(0.3), observedFar: 0.2, tar: 1 });
  assert.deepEqual(far001, { far: 0.01, threshold: null, observedFar: null, tar: null });
});

test("ties at the threshold score lower the observed rate instead of exceeding the target", () => {
  // Two impostors tie at .5: allowing one false positive means letting neither through.
  assert.deepEqual(thresholdForRate([0.5, 0.5, 0.1, 0.0, null], 0.2), { threshold: nextUp(0.5), observed: 0 });
  // Allowing all of them: the threshold is -Infinity.
  assert.deepEqual(thresholdForRate([0.5, 0.1], 1), { threshold: -Infinity, observed: 1 });
});

test("histogram bins on a common grid, and summaries", () => {
  // Bins of 0.1 from 0: .02 .07 -> [0, .1); .12 -> [.1, .2); .55 -> [.5, .6). Impostor -.05 -> [-.1, 0).
  const [g, i] = histogram([[0.02, 0.07, 0.12, 0.55], [-0.05]], 0.1);
  assert.ok(Math.abs(g!.start + 0.1) < 1e-12);
  assert.deepEqual(g!.counts, [0, 2, 1, 0, 0, 0, 1]);
  assert.deepEqual(i!.counts, [1, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(summarise([0.5, -0.5, 0.3]), { count: 3, min: -0.5, max: 0.5, mean: 0.3 / 3 });
});

test("nextUp is the next double", () => {
  assert.ok(nextUp(0.45) > 0.45);
  assert.equal((nextUp(0.45) + 0.45) / 2 === 0.45 || (nextUp(0.45) + 0.45) / 2 === nextUp(0.45), true);
  assert.ok(nextUp(-0.3) > -0.3 && nextUp(-0.3) - -0.3 < 1e-15);
  assert.equal(nextUp(0), Number.MIN_VALUE);
});

/*
 * The protocol on hand-made 2-d templates (cosine = dot product of unit vectors):
 *   A: a0 = (1, 0) enrolled, a1 = (.8, .6) probe
 *   B: b0 = (0, 1) enrolled, b1 = (.6, .8) probe, b2 failed
 *   C: c0 failed (C cannot enrol), c1 = (-1, 0) probe
 * Gallery [A, B]. a1: A .8, B .6 -> rank 1, non-mated .6. b1: A .6, B .8 -> rank 1, non-mated .6.
 * b2: miss, no candidate. c1: no mate enrolled -> miss; non-mated top = max(A -1, B 0) = 0.
 * 1:1 over the 5 templates = 10 pairs: genuine a0-a1 .8, b0-b1 .8; the 8 others are impostors:
 * a0-b0 0, a0-b1 .6, a0-c1 -1, a1-b0 .6, a1-b1 .96, a1-c1 -.8, b0-c1 0, b1-c1 -.6.
 */
test("protocol: enrolment, mated and leave-one-identity-out non-mated searches, 1:1 pairs", () => {
  const t = (x: number, y: number) => new Float32Array([x, y]);
  const result = scoreProtocol([
    { identity: "B", file: "2.jpg", template: null },
    { identity: "A", file: "0.jpg", template: t(1, 0) },
    { identity: "A", file: "1.jpg", template: t(0.8, 0.6) },
    { identity: "B", file: "0.jpg", template: t(0, 1) },
    { identity: "B", file: "1.jpg", template: t(0.6, 0.8) },
    { identity: "C", file: "0.jpg", template: null },
    { identity: "C", file: "1.jpg", template: t(-1, 0) },
  ]);
  const near = (a: number | null | undefined, b: number) => a !== null && a !== undefined && Math.abs(a - b) < 1e-6;
  assert.deepEqual(result.gallery, ["B", "A"]);
  assert.deepEqual(result.galleryFailures, ["C"]);
  // Probe order follows identities as first met (B, A, C), then file names.
  assert.equal(result.mated.length, 4);
  assert.equal(result.mated[0]!.rank, 1);
  assert.ok(near(result.mated[0]!.score, 0.8));
  assert.equal(result.mated[1], null);
  assert.equal(result.mated[2]!.rank, 1);
  assert.ok(near(result.mated[2]!.score, 0.8));
  assert.equal(result.mated[3], null);
  assert.ok(near(result.nonMated[0], 0.6) && result.nonMated[1] === null && near(result.nonMated[2], 0.6) && near(result.nonMated[3], 0));
  assert.equal(result.genuine.length, 2);
  for (const g of result.genuine) assert.ok(near(g, 0.8));
  const impostor = [...result.impostor].sort((a, b) => a - b);
  const expected = [-1, -0.8, -0.6, 0, 0, 0.6, 0.6, 0.96];
  assert.equal(impostor.length, 8);
  for (const [k, v] of expected.entries()) assert.ok(near(impostor[k], v), `impostor ${k}: ${impostor[k]} vs ${v}`);
});
