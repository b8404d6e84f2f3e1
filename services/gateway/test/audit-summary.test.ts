import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AppError } from "@taj/common";
import { AuditEventSchema, ErrorCode, Modality, Verdict } from "@taj/proto";
import { decodePageToken, encodePageToken, isoWeek, scoreBand, summarizeFeedback, type AuditFilter } from "../src/audit/index.ts";

const MON_2026_W49 = Date.UTC(2026, 10, 30, 12); // Monday 30 Nov 2026
const WEEK = 7 * 86_400_000;

function verdict(searchId: string, candidateId: string, v: Verdict, rank: number, similarity: number, modality: Modality, searchAtMs: number, outcome = "OK") {
  return create(AuditEventSchema, {
    rpc: "RecordFeedback",
    outcome,
    modality,
    feedback: { searchId, candidateId, verdict: v, rank, similarity, searchAt: timestampFromMs(searchAtMs) },
  });
}

test("ISO weeks and score bands", () => {
  assert.equal(isoWeek(new Date(MON_2026_W49)), "2026-W49");
  assert.equal(isoWeek(new Date(Date.UTC(2027, 0, 1))), "2026-W53"); // Friday 1 Jan 2027 belongs to 2026's last week
  assert.equal(isoWeek(new Date(Date.UTC(2024, 11, 30))), "2025-W01");
  assert.deepEqual([0.43, 0.4, 0.0, 0.999, 1, Math.fround(0.7)].map(scoreBand), ["0.4-0.5", "0.4-0.5", "0.0-0.1", "0.9-1.0", "0.9-1.0", "0.7-0.8"]);
});

test("the feedback summary on a hand-made case: latest verdict per (search, candidate) wins, refused feedback is ignored", () => {
  const events = [
    verdict("s1", "r1", Verdict.REJECTED, 1, 0.91, Modality.FACE, MON_2026_W49), // replaced below
    verdict("s1", "r1", Verdict.CONFIRMED, 1, 0.91, Modality.FACE, MON_2026_W49),
    verdict("s1", "r2", Verdict.REJECTED, 2, 0.55, Modality.FACE, MON_2026_W49),
    verdict("s2", "r1", Verdict.CONFIRMED, 1, 0.95, Modality.FACE, MON_2026_W49 + WEEK),
    verdict("s2", "r3", Verdict.UNSURE, 2, 0.52, Modality.FACE, MON_2026_W49 + WEEK),
    verdict("s3", "t1", Verdict.REJECTED, 1, 0.61, Modality.TATTOO, MON_2026_W49),
    verdict("s3", "t2", Verdict.CONFIRMED, 2, 0.6, Modality.TATTOO, MON_2026_W49, "CANDIDATE_NOT_RETURNED"),
  ];
  const s = summarizeFeedback(events, Modality.UNSPECIFIED);
  const rows = (b: typeof s.byModality) => (b ?? []).map((x) => [x.label, x.confirmed, x.rejected, x.unsure, Number(x.confirmedRate?.toFixed(4))]);
  assert.deepEqual(rows(s.byModality), [["face", 2, 1, 1, 0.6667], ["tattoo", 0, 1, 0, 0]]);
  assert.deepEqual(rows(s.byRank), [["1", 2, 1, 0, 0.6667], ["2", 0, 1, 1, 0]]);
  assert.deepEqual(rows(s.byScoreBand), [["0.5-0.6", 0, 1, 1, 0], ["0.6-0.7", 0, 1, 0, 0], ["0.9-1.0", 2, 0, 0, 1]]);
  assert.deepEqual(rows(s.byWeek), [["2026-W49", 1, 2, 0, 0.3333], ["2026-W50", 1, 0, 1, 1]]);
  const faceOnly = summarizeFeedback(events, Modality.FACE);
  assert.deepEqual(rows(faceOnly.byModality), [["face", 2, 1, 1, 0.6667]]);
});

test("page tokens round-trip for their own query only; garbled or forged ones are INVALID_PAGE_TOKEN", () => {
  const filter: AuditFilter = { principalId: "oidc:x", caseRef: "", recordId: "", modality: Modality.UNSPECIFIED, fromMs: undefined, toMs: undefined, rpc: "" };
  const token = encodePageToken(1234, filter);
  assert.equal(decodePageToken(token, filter), 1234);
  const invalid = (t: string, f: AuditFilter = filter) =>
    assert.throws(() => decodePageToken(t, f), (e: unknown) => e instanceof AppError && e.code === ErrorCode.INVALID_PAGE_TOKEN);
  invalid(token, { ...filter, principalId: "oidc:y" });
  invalid(token.slice(0, -2) + (token.endsWith("AA") ? "AB" : "AA"));
  const forged = Buffer.from(token, "base64url");
  forged.writeBigUInt64BE(1n, 1);
  invalid(forged.toString("base64url"));
  invalid("not a token!");
  invalid("");
});
