import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ErrorCode, GetRequestSchema, Modality } from "@taj/proto";
// index.ts configures protobuf-es's text decoding, as every service that imports it does.
import { AppError, modalityFromName, modalityName, partitionOf, validateId } from "../src/index.ts";

test("validateId accepts opaque technical ids and rejects everything else with INVALID_ID", () => {
  for (const ok of ["a", "TAJ-2026_000123", "x".repeat(64)]) assert.equal(validateId(ok), ok);
  for (const bad of ["", "x".repeat(65), "a.b", "a b", "é", "a*", "a>", "../etc"]) {
    assert.throws(() => validateId(bad), (e: unknown) => e instanceof AppError && e.code === ErrorCode.INVALID_ID);
  }
});

test("partitionOf is the FNV-1a hash modulo the count, stable across releases", () => {
  // Known FNV-1a 32-bit values: "" -> 0x811c9dc5, "a" -> 0xe40c292c, "foobar" -> 0xbf9cf968.
  assert.equal(partitionOf("a", 0x1_0000_0000), 0xe40c292c);
  assert.equal(partitionOf("foobar", 0x1_0000_0000), 0xbf9cf968);
  assert.equal(partitionOf("foobar", 16), 0xbf9cf968 % 16);
});

test("partitionOf spreads ids over every partition", () => {
  const counts = new Array<number>(16).fill(0);
  for (let i = 0; i < 16_000; i++) counts[partitionOf(`REC-${i}`, 16)]!++;
  for (const c of counts) assert.ok(c > 800 && c < 1200, `unbalanced partition: ${c}`);
});

test("modality names round-trip and unknown modalities are UNSUPPORTED_MODALITY", () => {
  for (const m of [Modality.FACE, Modality.TATTOO, Modality.MARK]) assert.equal(modalityFromName(modalityName(m)), m);
  assert.throws(() => modalityName(Modality.UNSPECIFIED), (e: unknown) => e instanceof AppError && e.code === ErrorCode.UNSUPPORTED_MODALITY);
  assert.throws(() => modalityFromName("iris"), (e: unknown) => e instanceof AppError && e.code === ErrorCode.UNSUPPORTED_MODALITY);
});

test("a leading byte order mark reaches validation as sent: it is not silently dropped", () => {
  const wire = toBinary(GetRequestSchema, create(GetRequestSchema, { id: "\ufeffX1" }));
  assert.deepEqual([...wire.subarray(2, 5)], [0xef, 0xbb, 0xbf], "the BOM is on the wire");
  const decoded = fromBinary(GetRequestSchema, wire);
  assert.equal(decoded.id, "\ufeffX1");
  assert.throws(() => validateId(decoded.id), (e: unknown) => e instanceof AppError && e.code === ErrorCode.INVALID_ID);
});
