/**
 * Biometric accuracy metrics, as NIST FRTE reports them. Pure functions over scores: no I/O.
 *
 * Conventions: a higher score means more alike; a candidate is returned at threshold T when its
 * score is >= T; ties in rank are counted against the mate (pessimistic).
 */

/** Where a mated search found its mate: 1-based rank and score. null = a miss at any threshold
 * (the probe gave no template, or its identity has no enrolled template). */
export type MatedOutcome = { rank: number; score: number } | null;

/** A non-mated search's best candidate score; null = it returned no candidate at all. */
export type NonMatedTop = number | null;

/** The smallest double above x: the threshold that lets x itself through no more. */
export function nextUp(x: number): number {
  if (Number.isNaN(x) || x === Infinity) return x;
  if (x === 0) return Number.MIN_VALUE;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  view.setBigUint64(0, x > 0 ? bits + 1n : bits - 1n);
  return view.getFloat64(0);
}

/** Rank of `scores[mateIndex]` among `scores`; others scoring as high as the mate rank before it. */
export function rankOfMate(scores: readonly number[], mateIndex: number): MatedOutcome {
  const mate = scores[mateIndex];
  if (mate === undefined) return null;
  let rank = 1;
  for (const [i, s] of scores.entries()) if (i !== mateIndex && s >= mate) rank++;
  return { rank, score: mate };
}

/** Identification rate at ranks 1..maxRank (the CMC curve), over all mated searches. */
export function cmc(outcomes: readonly MatedOutcome[], maxRank: number): number[] {
  const rates: number[] = [];
  for (let r = 1; r <= maxRank; r++) {
    const hits = outcomes.filter((o) => o !== null && o.rank <= r).length;
    rates.push(outcomes.length === 0 ? 0 : hits / outcomes.length);
  }
  return rates;
}

/** Fraction of `scores` at or above `threshold` (FPIR of non-mated tops, FAR of impostors, TAR of genuines). */
export function rateAtOrAbove(scores: readonly (number | null)[], threshold: number): number {
  if (scores.length === 0) return 0;
  return scores.filter((s) => s !== null && s >= threshold).length / scores.length;
}

/** FNIR(T, L): mated searches whose mate is not returned at rank <= L with a score >= T. */
export function fnir(outcomes: readonly MatedOutcome[], threshold: number, rank: number): number {
  if (outcomes.length === 0) return 0;
  const hits = outcomes.filter((o) => o !== null && o.rank <= rank && o.score >= threshold).length;
  return 1 - hits / outcomes.length;
}

export interface Threshold {
  threshold: number;
  /** The false-positive rate actually reached (<= the target; lower when scores tie). */
  observed: number;
}

/**
 * The lowest threshold whose false-positive rate over `impostors` is at most `rate`.
 * null when there are fewer than 1/rate impostor samples: the data cannot tell such a rate apart
 * from zero.
 */
export function thresholdForRate(impostors: readonly (number | null)[], rate: number): Threshold | null {
  const n = impostors.length;
  // The epsilon keeps e.g. 0.29 * 100 = 28.999999999999996 from losing one allowed false positive.
  const allowed = Math.floor(rate * n + 1e-9);
  if (n === 0 || allowed < 1) return null;
  const sorted = impostors.filter((s): s is number => s !== null).sort((a, b) => b - a);
  // Everything above the (allowed+1)-th highest impostor score may pass, that score itself not.
  const firstExcluded = sorted[allowed];
  const threshold = firstExcluded === undefined ? -Infinity : nextUp(firstExcluded);
  return { threshold, observed: rateAtOrAbove(impostors, threshold) };
}

export interface FnirAtFpir {
  fpir: number;
  rank: number;
  /** null when there are too few non-mated searches for this FPIR. */
  threshold: number | null;
  observedFpir: number | null;
  fnir: number | null;
}

export function fnirAtFpir(
  outcomes: readonly MatedOutcome[],
  nonMated: readonly NonMatedTop[],
  fpirs: readonly number[],
  ranks: readonly number[],
): FnirAtFpir[] {
  const rows: FnirAtFpir[] = [];
  for (const fpir of fpirs) {
    const t = thresholdForRate(nonMated, fpir);
    for (const rank of ranks) {
      rows.push(
        t === null
          ? { fpir, rank, threshold: null, observedFpir: null, fnir: null }
          : { fpir, rank, threshold: t.threshold, observedFpir: t.observed, fnir: fnir(outcomes, t.threshold, rank) },
      );
    }
  }
  return rows;
}

export interface TarAtFar {
  far: number;
  threshold: number | null;
  observedFar: number | null;
  tar: number | null;
}

/** 1:1 verification: TAR over genuine pairs at the threshold giving FAR over impostor pairs. */
export function tarAtFar(genuine: readonly number[], impostor: readonly number[], fars: readonly number[]): TarAtFar[] {
  return fars.map((far) => {
    const t = thresholdForRate(impostor, far);
    if (t === null || genuine.length === 0) return { far, threshold: null, observedFar: null, tar: null };
    return { far, threshold: t.threshold, observedFar: t.observed, tar: rateAtOrAbove(genuine, t.threshold) };
  });
}

export interface DetPoint {
  threshold: number;
  fpir: number;
  fnir: number;
}

/**
 * FNIR against FPIR at rank `rank`, one point at each threshold where FPIR changes (every distinct
 * non-mated top score), from the strictest (FPIR 0) to the loosest.
 */
export function detCurve(outcomes: readonly MatedOutcome[], nonMated: readonly NonMatedTop[], rank: number): DetPoint[] {
  const tops = [...new Set(nonMated.filter((s): s is number => s !== null))].sort((a, b) => b - a);
  const thresholds = tops.length === 0 ? [] : [nextUp(tops[0]!), ...tops];
  return thresholds.map((threshold) => ({
    threshold,
    fpir: rateAtOrAbove(nonMated, threshold),
    fnir: fnir(outcomes, threshold, rank),
  }));
}

export interface Histogram {
  /** Left edge of the first bin. */
  start: number;
  binWidth: number;
  counts: number[];
}

/** Counts in bins [start + i*w, start + (i+1)*w), on a grid of w from 0, wide enough for every set. */
export function histogram(sets: readonly (readonly number[])[], binWidth: number): Histogram[] {
  const all = sets.flat();
  if (all.length === 0) return sets.map(() => ({ start: 0, binWidth, counts: [] }));
  const first = Math.floor(Math.min(...all) / binWidth);
  const last = Math.floor(Math.max(...all) / binWidth);
  return sets.map((values) => {
    const counts = new Array<number>(last - first + 1).fill(0);
    for (const v of values) counts[Math.floor(v / binWidth) - first]! += 1;
    return { start: first * binWidth, binWidth, counts };
  });
}

export interface Summary {
  count: number;
  min: number | null;
  max: number | null;
  mean: number | null;
}

export function summarise(values: readonly number[]): Summary {
  if (values.length === 0) return { count: 0, min: null, max: null, mean: null };
  let min = Infinity, max = -Infinity, sum = 0;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
  }
  return { count: values.length, min, max, mean: sum / values.length };
}
