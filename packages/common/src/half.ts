/**
 * IEEE 754 half precision (binary16), as the template log's template_f16 and the Projection
 * message's matrix_f16 hold it, little-endian. Node 20 has no Float16Array, so the conversion is
 * done here: round to nearest, ties to even; subnormals kept; infinities and NaN carried over.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Largest finite half. */
export const F16_MAX = 65_504;

/** The half nearest `value` (as float32 first, as any template value is), as its 16 bits. */
export function halfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit bit, rounding to even.
    // Below half the smallest subnormal (2^-25, e < -10) everything rounds to zero.
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (rest > midpoint || (rest === midpoint && (half & 1) === 1) ? half + 1 : half);
  }
  const half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and can reach infinity).
  return sign | (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1) ? half + 1 : half);
}

/** The value of 16 half bits (exact: every half is a float32). */
export function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

// Decoding is a table look-up (256 KB, built on first use): a shard's feed decodes every template of the log.
let table: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65_536);
    for (let h = 0; h < 65_536; h++) table[h] = halfValue(h);
  }
  return table;
}

/** Two bytes per value; throws on a value that is not finite or beyond half precision's range. */
export function encodeF16(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v) || Math.abs(v) > F16_MAX) throw new RangeError(`value ${i} (${v}) does not fit half precision`);
    const h = halfBits(v);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

/** The values of little-endian halves (any byte offset); throws on an odd length. */
export function decodeF16(bytes: Uint8Array): Float32Array {
  if (bytes.length % 2 !== 0) throw new RangeError("half precision bytes must come in pairs");
  const t = halfTable();
  const out = new Float32Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = t[bytes[2 * i]! | (bytes[2 * i + 1]! << 8)]!;
  return out;
}
