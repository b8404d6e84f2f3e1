import type { LinearProjection } from "./learn.ts";

/** matrix · (raw/|raw| − mean), not normalised: what the whitening makes of a template. */
export function linearMap(projection: LinearProjection, raw: ArrayLike<number>): Float32Array {
  const d = projection.inputDimensions;
  if (raw.length !== d) throw new RangeError(`template has ${raw.length} values, the projection takes ${d}`);
  let norm = 0;
  for (let i = 0; i < d; i++) norm += raw[i]! * raw[i]!;
  norm = Math.sqrt(norm);
  const inverse = norm === 0 ? 0 : 1 / norm;
  const centred = new Float32Array(d);
  for (let i = 0; i < d; i++) centred[i] = raw[i]! * inverse - projection.mean[i]!;
  const out = new Float32Array(projection.outputDimensions);
  const m = projection.matrix;
  // Four running sums: measured ~2x faster than one in V8 (the re-index of a modality runs this per template).
  const whole = d - (d % 4);
  for (let r = 0; r < out.length; r++) {
    const row = r * d;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let i = 0; i < whole; i += 4) {
      s0 += m[row + i]! * centred[i]!;
      s1 += m[row + i + 1]! * centred[i + 1]!;
      s2 += m[row + i + 2]! * centred[i + 2]!;
      s3 += m[row + i + 3]! * centred[i + 3]!;
    }
    for (let i = whole; i < d; i++) s0 += m[row + i]! * centred[i]!;
    out[r] = s0 + s1 + s2 + s3;
  }
  return out;
}

/**
 * The projected template, L2-normalised (what the index stores and compares by cosine). Throws
 * when `raw` is not of the projection's input length.
 */
export function applyProjection(projection: LinearProjection, raw: ArrayLike<number>): Float32Array {
  const out = linearMap(projection, raw);
  let norm = 0;
  for (const v of out) norm += v * v;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let r = 0; r < out.length; r++) out[r] = out[r]! / norm;
  return out;
}
