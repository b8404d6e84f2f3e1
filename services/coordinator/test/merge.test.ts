import { test } from "node:test";
import assert from "node:assert/strict";
import { mergeHits } from "../src/merge.ts";

test("merge keeps the best similarity of a duplicated id", () => {
  const merged = mergeHits(
    [
      { id: "x", similarity: 0.5 },
      { id: "y", similarity: 0.7 },
      { id: "x", similarity: 0.9 },
    ],
    0,
    10,
  );
  assert.deepEqual(merged, [
    { id: "x", similarity: 0.9, rank: 1 },
    { id: "y", similarity: 0.7, rank: 2 },
  ]);
});

test("merge drops hits below the threshold and keeps those exactly at it", () => {
  const merged = mergeHits(
    [
      { id: "a", similarity: 0.39 },
      { id: "b", similarity: 0.4 },
      { id: "c", similarity: 0.8 },
      { id: "d", similarity: Number.NaN },
    ],
    0.4,
    10,
  );
  assert.deepEqual(merged.map((c) => c.id), ["c", "b"]);
});

test("merge sorts best first, cuts at max and ranks from 1", () => {
  const hits = Array.from({ length: 50 }, (_, i) => ({ id: `id${i}`, similarity: (i % 17) / 17 }));
  const merged = mergeHits(hits, -1, 5);
  assert.equal(merged.length, 5);
  assert.deepEqual(merged.map((c) => c.rank), [1, 2, 3, 4, 5]);
  for (let i = 1; i < merged.length; i++) assert.ok(merged[i - 1]!.similarity >= merged[i]!.similarity);
  assert.equal(merged[0]!.similarity, 16 / 17);
});

test("merge orders equal similarities by id so answers are stable", () => {
  const merged = mergeHits([{ id: "b", similarity: 0.5 }, { id: "a", similarity: 0.5 }], 0, 10);
  assert.deepEqual(merged.map((c) => c.id), ["a", "b"]);
});

test("merge of nothing is empty", () => {
  assert.deepEqual(mergeHits([], 0, 10), []);
});
