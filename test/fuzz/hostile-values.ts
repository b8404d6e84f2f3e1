// Values that break assumptions: ids, case references, floats and integers at and past their limits.
import type { Random } from "./random.ts";

/** Ids the gateway must refuse with INVALID_ID (valid UTF-8, so they parse). */
export const FIXED_BAD_IDS: readonly string[] = [
  "", "a".repeat(65), "a".repeat(1000), "a".repeat(100_000),
  "é", "İD", "ID😀", "\u202eDI", "ID\u200b", "\ufeffID", "１２３", "АВС", "ID\u0085",
  "\0", "ID\0X", "ID\0", "\0".repeat(64),
  "../etc/passwd", "a/b", "a\\b", "..", ".", "/", "C:\\x", "~root", "%00", "%2e%2e%2f",
  "a.b", "*", ">", "a.*", "a.>", "a.b.c", "$JS.API.STREAM.INFO", "_INBOX.x", "$SYS", "a..b", ".a", "a.",
  " ID", "ID ", "a b", "ID\n", "ID\r\n", "\t", "ID;rm -rf", "ID'--", "ID\"", "<script>", "${jndi:x}", "{{7*7}}",
  "ID\ud800", "ID\udfff", "ID\u2028", "ID\u0000\u0001\u0002",
];

/** Bytes that are not UTF-8: a string field holding them must not parse at all. */
export const INVALID_UTF8: readonly Buffer[] = [
  Buffer.from([0xff]), Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0x49, 0x44, 0xfe]),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from([0xe2, 0x82]),
];

const VALID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const HOSTILE_CHARS = [".", "*", ">", "/", "\\", " ", "\0", "\n", "\u202e", "é", "😀", "\u200b", ":", "$", "%", "\u0007", "\u00a0", "Ω"];

/** A random id that is invalid by construction: a hostile character inside, or too long. */
export function randomBadId(rng: Random): string {
  if (rng.chance(0.15)) {
    let s = "";
    const n = rng.int(65, 300);
    for (let i = 0; i < n; i++) s += VALID_CHARS[rng.int(0, VALID_CHARS.length - 1)];
    return s;
  }
  const chars: string[] = [];
  const n = rng.int(0, 40);
  for (let i = 0; i < n; i++) chars.push(VALID_CHARS[rng.int(0, VALID_CHARS.length - 1)]!);
  const hostile = rng.int(1, 3);
  for (let i = 0; i < hostile; i++) chars.splice(rng.int(0, chars.length), 0, rng.pick(HOSTILE_CHARS));
  return chars.join("");
}

/** Float bit patterns the threshold must refuse (outside [-1, 1] or not a number). */
export const BAD_THRESHOLD_BITS: readonly number[] = [
  0x7fc00000, // NaN
  0x7f800001, // signalling NaN
  0xffc00000, // negative NaN
  0x7f800000, // +Infinity
  0xff800000, // -Infinity
  0x3f800001, // the float just above 1
  0xbf800001, // the float just below -1
  0x40000000, // 2
  0xc0000000, // -2
  0x7149f2ca, // 1e30
  0xff7fffff, // -max float
  0x7f7fffff, // max float
];

/** max_candidates values outside [1, MAX_CANDIDATES_LIMIT = 200] once read as uint32. */
export const BAD_MAX_CANDIDATES: readonly bigint[] = [
  0n, 201n, 1000n, 100_000n, 2n ** 31n, 2n ** 32n - 1n,
  2n ** 32n, // truncates to 0
  2n ** 64n - 1n, // -1 as a varint: truncates to 0xffffffff
];

/** case_ref values the gateway refuses: too long, or holding control / format / private characters. */
export const BAD_CASE_REFS: readonly string[] = [
  "C".repeat(129), "C".repeat(10_000), "\0", "CASE\0", "CASE\n1", "CASE\r", "\u202eCASE", "\u0007", "CASE\u200b",
  "\ue000", "CASE\u0085", "\u001b[31mred", "\t", "\ufeffCASE",
];

/** Box coordinates: each tuple has at least one value that validation refuses. */
export const INVALID_BOX_VALUES: readonly number[] = [NaN, Infinity, -Infinity, -1, -1e-6, -3.4e38];

/** Finite, positive, and still absurd: must be refused by the face matcher (no overlap), not crash it. */
export const ABSURD_BOXES: ReadonlyArray<readonly [number, number, number, number]> = [
  [1e30, 1e30, 1e30, 1e30], [0, 0, 3.4e38, 3.4e38], [1e-45, 1e-45, 1e-45, 1e-45], [0, 0, 1e-45, 1e-45],
  [1e9, 1e9, 10, 10], [0, 0, 1, 1], [3e38, 0, 3e38, 1], [65535, 65535, 65535, 65535], [0, 1e7, 5, 1e-3],
];
