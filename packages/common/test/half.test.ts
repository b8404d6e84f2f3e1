import { test } from "node:test";
import assert from "node:assert/strict";
import { F16_MAX, decodeF16, encodeF16, halfBits, halfValue } from "../src/half.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** The float32 next to `v` (v a float32, positive): one bit up or down. */
function nextFloat32(v: number, direction: 1 | -1): number {
  f32[0] = v;
  u32[0] = u32[0]! + direction;
  return f32[0];
}
const isNaNBits = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

test("every one of the 65536 halves decodes and encodes back to its own bits (NaNs to a NaN)", () => {
  let nans = 0;
  for (let h = 0; h < 0x10000; h++) {
    const v = halfValue(h);
    if (Number.isNaN(v)) {
      nans++;
      assert.ok(isNaNBits(h), `0x${h.toString(16)} decoded to NaN`);
      assert.ok(isNaNBits(halfBits(v)));
      continue;
    }
    assert.equal(Math.fround(v), v, `0x${h.toString(16)} is a float32`);
    assert.equal(halfBits(v), h, `0x${h.toString(16)} (${v})`);
  }
  assert.equal(nans, 2 * 1023, "NaN: exponent 31 and a non-zero mantissa, either sign");
});

test("the byte codec agrees with the bit codec for every half, little-endian, at any byte offset", () => {
  const bytes = new Uint8Array(1 + 2 * 0x10000).subarray(1); // an odd offset: no 2-byte alignment to rely on
  for (let h = 0; h < 0x10000; h++) {
    bytes[2 * h] = h & 0xff;
    bytes[2 * h + 1] = h >>> 8;
  }
  const values = decodeF16(bytes);
  assert.equal(values.length, 0x10000);
  const finite: number[] = [];
  for (let h = 0; h < 0x10000; h++) {
    const want = halfValue(h);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(values[h]!));
    else assert.ok(Object.is(values[h], want), `0x${h.toString(16)}`);
    if (Number.isFinite(want)) finite.push(h);
  }
  const encoded = encodeF16(finite.map(halfValue));
  finite.forEach((h, i) => assert.equal(encoded[2 * i]! | (encoded[2 * i + 1]! << 8), h));
});

test("rounding is to nearest, ties to even, between every two neighbouring halves (normal and subnormal)", () => {
  for (let h = 0; h < 0x7bff; h++) {
    for (const sign of [0, 0x8000]) {
      const lo = halfValue(sign | h);
      const hi = halfValue(sign | (h + 1));
      const mid = (lo + hi) / 2;
      assert.equal(Math.fround(mid), mid, "a midpoint needs one more bit: a float32");
      const even = (h & 1) === 0 ? h : h + 1;
      assert.equal(halfBits(mid), sign | even, `tie between 0x${h.toString(16)} and its successor`);
      const magnitude = Math.abs(mid);
      const towardHi = Math.sign(mid || 1) * nextFloat32(magnitude, 1);
      const towardLo = Math.sign(mid || 1) * nextFloat32(magnitude, -1);
      assert.equal(halfBits(sign ? -Math.abs(towardHi) : towardHi), sign | (h + 1));
      assert.equal(halfBits(sign ? -Math.abs(towardLo) : towardLo), sign | h);
    }
  }
});

test("known values: one, max, the smallest normal and subnormal, underflow, overflow, infinities, NaN", () => {
  const known: Array<[number, number]> = [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [0.1, 0x2e66], [1 / 3, 0x3555],
    [F16_MAX, 0x7bff], [-F16_MAX, 0xfbff], [2 ** -14, 0x0400], [2 ** -24, 0x0001], [1023 * 2 ** -24, 0x03ff],
    [2 ** -25, 0x0000], [-(2 ** -25), 0x8000], [nextFloat32(2 ** -25, 1), 0x0001], [3 * 2 ** -26, 0x0001], [3 * 2 ** -25, 0x0002], [1e-8, 0x0000],
    [65_519, 0x7bff], [65_520, 0x7c00], [1e5, 0x7c00], [Infinity, 0x7c00], [-Infinity, 0xfc00], [2 ** -149, 0x0000],
  ];
  for (const [v, h] of known) assert.equal(halfBits(v), h, `${v}`);
  assert.ok(isNaNBits(halfBits(Number.NaN)));
  assert.equal(halfValue(0x3c00), 1);
  assert.equal(halfValue(0x0001), 2 ** -24);
  assert.equal(halfValue(0x7c00), Infinity);
  assert.equal(halfValue(0xfc00), -Infinity);
  assert.ok(Object.is(halfValue(0x8000), -0));
  assert.deepEqual([...encodeF16([1, -2])], [0x00, 0x3c, 0x00, 0xc0], "little-endian");
});

test("encodeF16 refuses what half precision cannot hold; decodeF16 refuses an odd byte count", () => {
  for (const bad of [65_505, -70_000, Infinity, Number.NaN]) assert.throws(() => encodeF16([0.5, bad]), /value 1 .* does not fit half precision/);
  assert.throws(() => decodeF16(new Uint8Array(3)), /must come in pairs/);
  assert.equal(decodeF16(new Uint8Array(0)).length, 0);
});
