/**
 * Templates are stored as int8 at one scale per dimension count: the vector is made unit length,
 * then multiplied by SCALE(d) = 127·√d / CLIP_SIGMAS and rounded. All rows then have (nearly) the
 * same length, so an inner product ranks them as cosine does, and the scan's kernel need not
 * recompute both norms for every row (usearch's cosine i8 kernel does: 1.5x slower, measured in
 * bench/results/index-kernels). A unit vector's components are ~1/√d each, so ±127 covers
 * CLIP_SIGMAS of them: 5 was measured best on face-like data (4 clips too often, 6 wastes levels).
 *
 * A vector with a component beyond that range is scaled down instead of clipped (its direction is
 * kept): its inner products come out low by `scale / SCALE(d)`, which the scan allows for by
 * fetching extra candidates and re-ranking them by exact int8 cosine (row-store.ts). Such vectors
 * are counted (`reduced`), so a modality whose features are too spiky for one scale shows.
 */
export const CLIP_SIGMAS = 5;

/** Identifies the stored format in snapshots: a snapshot of another quantisation is rebuilt from the log. */
export const QUANTIZATION = "unit-i8-5sigma";

export function scaleFor(dims: number): number {
  return (127 * Math.sqrt(dims)) / CLIP_SIGMAS;
}

export interface Quantized {
  vector: Int8Array;
  /** True when the vector was scaled below SCALE(d) to fit int8. */
  reduced: boolean;
}

export function quantizeWithInfo(values: ArrayLike<number>): Quantized {
  const out = new Int8Array(values.length);
  let sumSq = 0;
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    sumSq += v * v;
    max = Math.max(max, Math.abs(v));
  }
  if (sumSq === 0) return { vector: out, reduced: false };
  const norm = Math.sqrt(sumSq);
  const full = scaleFor(values.length);
  const fit = (127 * norm) / max;
  const scale = Math.min(full, fit) / norm;
  for (let i = 0; i < values.length; i++) out[i] = Math.round(values[i]! * scale);
  return { vector: out, reduced: fit < full };
}

export function quantize(values: ArrayLike<number>): Int8Array {
  return quantizeWithInfo(values).vector;
}

/** Cosine similarity of two int8 vectors: what the shard reports as a candidate's similarity. */
export function int8Cosine(a: Int8Array, b: Int8Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}
