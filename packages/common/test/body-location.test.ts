import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorCode, Modality } from "@taj/proto";
import { AppError, BODY_LOCATIONS, MAX_BODY_LOCATION_FILTER, parseBodyLocation, parseBodyLocationFilter } from "../src/index.ts";

const refusedWith = (code: ErrorCode, check: (message: string) => boolean = () => true) =>
  (e: unknown) => e instanceof AppError && e.code === code && check(e.message);

test("parseBodyLocation: empty is none, for every modality", () => {
  for (const m of [Modality.FACE, Modality.TATTOO, Modality.MARK]) {
    assert.equal(parseBodyLocation(m, ""), "");
    assert.equal(parseBodyLocation(m, "   "), "");
  }
});

test("parseBodyLocation: every listed code is accepted for TATTOO and MARK, in its canonical spelling", () => {
  for (const code of BODY_LOCATIONS.keys()) {
    assert.equal(parseBodyLocation(Modality.TATTOO, code), code);
    assert.equal(parseBodyLocation(Modality.MARK, code), code);
  }
  assert.equal(parseBodyLocation(Modality.TATTOO, "  l   arm "), "L ARM");
  assert.equal(parseBodyLocation(Modality.MARK, "lkneE"), "LKNEE");
});

test("parseBodyLocation: FACE with a location is INVALID_BODY_LOCATION", () => {
  assert.throws(() => parseBodyLocation(Modality.FACE, "L ARM"), refusedWith(ErrorCode.INVALID_BODY_LOCATION, (m) => m.includes("FACE")));
});

test("parseBodyLocation: unknown codes are INVALID_BODY_LOCATION; the message echoes only short code-like text", () => {
  assert.throws(() => parseBodyLocation(Modality.TATTOO, "ARM L UP"), refusedWith(ErrorCode.INVALID_BODY_LOCATION, (m) => m.includes('"ARM L UP"')));
  // The full NCIC code, type prefix included, is not a location: the modality is the type.
  assert.throws(() => parseBodyLocation(Modality.TATTOO, "TAT L ARM"), refusedWith(ErrorCode.INVALID_BODY_LOCATION));
  const personal = "left arm of John Smith, born 1980-01-01";
  assert.throws(() => parseBodyLocation(Modality.MARK, personal), refusedWith(ErrorCode.INVALID_BODY_LOCATION, (m) => !m.includes("John") && !m.includes("1980")));
  assert.throws(() => parseBodyLocation(Modality.MARK, "x".repeat(10_000)), refusedWith(ErrorCode.INVALID_BODY_LOCATION, (m) => m.length < 120));
  assert.throws(() => parseBodyLocation(Modality.MARK, "ARM\n\"x\""), refusedWith(ErrorCode.INVALID_BODY_LOCATION, (m) => !m.includes("\n")));
});

test("parseBodyLocationFilter: empty is no filter, duplicates are dropped, order of first use kept", () => {
  assert.deepEqual(parseBodyLocationFilter(Modality.FACE, []), []);
  assert.deepEqual(parseBodyLocationFilter(Modality.TATTOO, ["R ARM", "l arm", "R ARM", " r  arm"]), ["R ARM", "L ARM"]);
});

test("parseBodyLocationFilter: FACE, unknown codes, empty entries and more than the limit are refused", () => {
  assert.throws(() => parseBodyLocationFilter(Modality.FACE, ["L ARM"]), refusedWith(ErrorCode.INVALID_BODY_LOCATION));
  assert.throws(() => parseBodyLocationFilter(Modality.MARK, ["L ARM", "WING"]), refusedWith(ErrorCode.INVALID_BODY_LOCATION, (m) => m.includes('"WING"')));
  assert.throws(() => parseBodyLocationFilter(Modality.MARK, [""]), refusedWith(ErrorCode.INVALID_BODY_LOCATION));
  const codes = [...BODY_LOCATIONS.keys()];
  assert.ok(codes.length > MAX_BODY_LOCATION_FILTER);
  assert.equal(parseBodyLocationFilter(Modality.TATTOO, codes.slice(0, MAX_BODY_LOCATION_FILTER)).length, MAX_BODY_LOCATION_FILTER);
  assert.throws(() => parseBodyLocationFilter(Modality.TATTOO, codes.slice(0, MAX_BODY_LOCATION_FILTER + 1)),
    refusedWith(ErrorCode.INVALID_BODY_LOCATION, (m) => m.includes(String(MAX_BODY_LOCATION_FILTER))));
  // Repeats of one code are one code, however many.
  assert.deepEqual(parseBodyLocationFilter(Modality.TATTOO, new Array<string>(100).fill("CHEST")), ["CHEST"]);
});
