/**
 * Templates are kept as int8, scaled per vector so the largest component maps to 127. Cosine is
 * invariant to a per-vector scale, so this keeps ~6x more resolution than usearch's fixed x127
 * cast for unit vectors (whose components are mostly below 0.2), at a quarter of f32's memory.
 */
export function quantize(values: ArrayLike<number>): Int8Array {
  const out = new Int8Array(values.length);
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]!));
  if (max === 0) return out;
  const scale = 127 / max;
  for (let i = 0; i < values.length; i++) out[i] = Math.round(values[i]! * scale);
  return out;
}

/** Cosine similarity of two int8 vectors (a reference for tests; the worker scans with SIMD). */
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

export function isFiniteVector(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return false;
  return true;
}
