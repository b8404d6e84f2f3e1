import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { modalityName } from "@taj/common";
import { Modality, Verdict, type AuditEvent, type FeedbackBucketSchema, type FeedbackSummaryResponseSchema } from "@taj/proto";

type Bucket = MessageInitShape<typeof FeedbackBucketSchema> & { confirmed: number; rejected: number; unsure: number };

/** ISO 8601 week of a UTC date, e.g. "2026-W49" (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeek(date: Date): string {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const day = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - day); // the Thursday of this week decides its year
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

/** Similarity bands 0.1 wide, e.g. 0.43 -> "0.4-0.5"; 1.0 falls in the top band "0.9-1.0". */
export function scoreBand(similarity: number): string {
  const tenth = Math.min(9, Math.floor(Math.round(similarity * 1e4) / 1e3));
  const fmt = (n: number) => (n / 10).toFixed(1);
  return `${fmt(tenth)}-${fmt(tenth + 1)}`;
}

/**
 * Confirmed-match rates over RecordFeedback events (in stream order): the latest verdict on a
 * (search, candidate) replaces earlier ones; only modality `only` when it is given.
 */
export function summarizeFeedback(events: Iterable<AuditEvent>, only: Modality): MessageInitShape<typeof FeedbackSummaryResponseSchema> {
  const latest = new Map<string, AuditEvent>();
  for (const e of events) {
    const f = e.feedback;
    if (e.rpc !== "RecordFeedback" || e.outcome !== "OK" || !f) continue;
    if (only !== Modality.UNSPECIFIED && e.modality !== only) continue;
    const key = JSON.stringify([f.searchId, f.candidateId]);
    latest.delete(key); // re-insert: Map order then follows the latest verdict
    latest.set(key, e);
  }
  const groups = { modality: new Map<string, Bucket>(), rank: new Map<string, Bucket>(), band: new Map<string, Bucket>(), week: new Map<string, Bucket>() };
  const add = (map: Map<string, Bucket>, label: string, verdict: Verdict) => {
    const b = map.get(label) ?? { label, confirmed: 0, rejected: 0, unsure: 0 };
    map.set(label, b);
    if (verdict === Verdict.CONFIRMED) b.confirmed++;
    else if (verdict === Verdict.REJECTED) b.rejected++;
    else if (verdict === Verdict.UNSURE) b.unsure++;
  };
  for (const e of latest.values()) {
    const f = e.feedback!;
    add(groups.modality, modalityName(e.modality), f.verdict);
    add(groups.rank, String(f.rank), f.verdict);
    add(groups.band, scoreBand(f.similarity), f.verdict);
    add(groups.week, f.searchAt ? isoWeek(timestampDate(f.searchAt)) : "unknown", f.verdict);
  }
  const finish = (map: Map<string, Bucket>, order: (a: string, b: string) => number) =>
    [...map.values()]
      .sort((a, b) => order(a.label!, b.label!))
      .map((b) => ({ ...b, confirmedRate: b.confirmed + b.rejected === 0 ? 0 : b.confirmed / (b.confirmed + b.rejected) }));
  const byText = (a: string, b: string) => a.localeCompare(b);
  const byNumber = (a: string, b: string) => Number.parseFloat(a) - Number.parseFloat(b);
  return {
    byModality: finish(groups.modality, byText),
    byRank: finish(groups.rank, byNumber),
    byScoreBand: finish(groups.band, byNumber),
    byWeek: finish(groups.week, byText),
  };
}
