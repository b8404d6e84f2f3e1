import { test } from "node:test";
import assert from "node:assert/strict";
import { expectedLive, longestSearchGap, longestWriteGap, type LoadResult } from "../lib/load.ts";
import { compare } from "../lib/verify.ts";

const base: LoadResult = {
  runId: "t", idPrefix: "DRILL-t-", start: 1_000, end: 11_000, enrolled: [], deleted: [], uncertainEnrolls: [],
  uncertainDeletes: [], searches: [], errors: {}, ops: 0, marks: [],
};
const write = (id: string, at: number) => ({ id, writer: "w", seq: 1n, at, gateway: "g", failovers: 0 });

test("the longest search gap counts from the start, between successes, and to the end; failures do not close a gap", () => {
  const r: LoadResult = {
    ...base,
    searches: [
      { lane: "x", start: 1_000, end: 2_000, ok: true },
      { lane: "x", start: 2_000, end: 6_000, ok: false, code: "UNAVAILABLE" },
      { lane: "x", start: 6_000, end: 7_500, ok: true },
      { lane: "y", start: 7_500, end: 10_000, ok: true },
    ],
  };
  assert.equal(longestSearchGap(r, { lane: "x" }), 5_500);
  assert.equal(longestSearchGap(r, { lane: "x", from: 7_000, to: 8_000 }), 500);
  assert.equal(longestSearchGap(r), 5_500);
  assert.equal(longestSearchGap({ ...r, searches: [] }), 10_000);
});

test("writes: expected live ids exclude acknowledged and uncertain deletes; gaps cover acks only", () => {
  const r: LoadResult = {
    ...base,
    enrolled: [write("DRILL-t-w-0", 2_000), write("DRILL-t-w-1", 3_000), write("DRILL-t-w-2", 9_000)],
    deleted: [write("DRILL-t-w-0", 4_000)],
    uncertainDeletes: ["DRILL-t-w-1"],
  };
  assert.deepEqual([...expectedLive(r)], ["DRILL-t-w-2"]);
  assert.equal(longestWriteGap(r), 5_000);
});

test("compare: a missing acknowledged id, a resurrected deleted id and disagreeing sites are each caught", () => {
  const r: LoadResult = {
    ...base,
    enrolled: [write("DRILL-t-w-0", 2_000), write("DRILL-t-w-1", 3_000)],
    deleted: [write("DRILL-t-w-0", 4_000)],
    uncertainEnrolls: ["DRILL-t-w-2"],
  };
  const good = compare(r, [
    { site: "a", ids: new Set(["DRILL-t-w-1", "DRILL-t-w-2"]), problems: [] },
    { site: "b", ids: new Set(["DRILL-t-w-1", "DRILL-t-w-2"]), problems: [] },
  ]);
  assert.ok(good.ok, "an in-flight enrollment stored at both sites is allowed");
  assert.equal(good.sites[0]!.unacknowledgedFound, 1);
  const bad = compare(r, [
    { site: "a", ids: new Set(["DRILL-t-w-0", "DRILL-t-w-1"]), problems: [] },
    { site: "b", ids: new Set([]), problems: [] },
  ]);
  assert.equal(bad.ok, false);
  assert.equal(bad.sites[0]!.deletedFound, 1);
  assert.equal(bad.sites[1]!.missing, 1);
  assert.equal(bad.sitesAgree, false);
});
