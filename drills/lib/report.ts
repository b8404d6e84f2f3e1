import { longestSearchGap, longestWriteGap, searchStats, type LoadResult } from "./load.ts";
import type { VerifyResult } from "./verify.ts";

export interface Row {
  measure: string;
  value: string;
  /** What was promised, e.g. "= 0" or "<= 5000 ms"; empty for information only. */
  promise?: string;
  /** undefined: information only. */
  ok?: boolean;
}

export const ms = (n: number | undefined) => (n === undefined ? "never" : `${Math.round(n)} ms`);
export const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

/** A table on stdout; returns 1 when some row broke its promise, else 0. */
export function printReport(title: string, rows: Row[]): number {
  const header = { measure: "measure", value: "value", promise: "promise", status: "" };
  const lines = rows.map((r) => ({ measure: r.measure, value: r.value, promise: r.promise ?? "", status: r.ok === undefined ? "" : r.ok ? "ok" : "BROKEN" }));
  const all = [header, ...lines];
  const width = (k: keyof typeof header) => Math.max(...all.map((l) => l[k].length));
  const fmt = (l: typeof header) =>
    `| ${l.measure.padEnd(width("measure"))} | ${l.value.padStart(width("value"))} | ${l.promise.padEnd(width("promise"))} | ${l.status.padEnd(width("status"))} |`;
  const dashes = (k: keyof typeof header, extra = 2) => "-".repeat(width(k) + extra);
  const rule = `|${dashes("measure")}|${dashes("value", 1)}:|${dashes("promise")}|${dashes("status")}|`;
  process.stdout.write(`\n### ${title}\n\n${fmt(header)}\n${rule}\n${lines.map(fmt).join("\n")}\n\n`);
  const broken = rows.filter((r) => r.ok === false);
  if (broken.length > 0) process.stdout.write(`BROKEN: ${broken.map((r) => r.measure).join("; ")}\n`);
  return broken.length > 0 ? 1 : 0;
}

export interface StandardReportOptions {
  /** Lanes to report separately (e.g. "client", "site-a", "site-b"). */
  lanes?: string[];
  /** Longest search gap allowed per lane (ms); default 5000 for lanes listed in `gapPromised`. */
  gapLimitMs?: number;
  /** Lanes whose gap is a promise; others are information. Default: ["client"]. */
  gapPromised?: string[];
  /** Search error rate allowed for the client lane (retries included); default: information only. */
  maxErrorRate?: number;
}

/** The rows every drill reports: writes, searches, gaps, and what each site holds afterwards. */
export function standardRows(load: LoadResult, verify: VerifyResult, options: StandardReportOptions = {}): Row[] {
  const lanes = options.lanes ?? [...new Set(load.searches.map((s) => s.lane))];
  const promised = new Set(options.gapPromised ?? ["client"]);
  const gapLimit = options.gapLimitMs ?? 5_000;
  const failovers = [...load.enrolled, ...load.deleted].filter((w) => w.failovers > 0).length;
  const rows: Row[] = [
    { measure: "duration", value: ms(load.end - load.start) },
    { measure: "calls made (bounded)", value: String(load.ops) },
    { measure: "enrollments acknowledged", value: String(load.enrolled.length) },
    { measure: "deletions acknowledged", value: String(load.deleted.length) },
    { measure: "writes acknowledged after a failover", value: String(failovers) },
    { measure: "enrollments unanswered (in flight)", value: String(load.uncertainEnrolls.length) },
    { measure: "longest gap without an acknowledged write", value: ms(longestWriteGap(load)) },
  ];
  const writers = [...new Set(load.enrolled.map((w) => w.writer))];
  if (writers.length > 1) {
    for (const writer of writers) rows.push({ measure: `longest write gap (writer ${writer})`, value: ms(longestWriteGap(load, { writer })) });
  }
  for (const [op, byCode] of Object.entries(load.errors)) {
    rows.push({ measure: `errors ${op}`, value: Object.entries(byCode).map(([c, n]) => `${c.replace(/^ERROR_CODE_/, "")}:${n}`).join(" ") });
  }
  for (const lane of lanes) {
    const s = searchStats(load, lane);
    const rate = s.errorRate;
    const laneRate = lane === "client" && options.maxErrorRate !== undefined;
    rows.push({
      measure: `searches ${lane}: ok / total`,
      value: `${s.total - s.failed} / ${s.total}`,
      ...(laneRate ? { promise: `errors <= ${pct(options.maxErrorRate ?? 0)}`, ok: rate <= (options.maxErrorRate ?? 0) } : {}),
    });
    rows.push({ measure: `search error rate ${lane}`, value: pct(rate) });
    if (s.incomplete > 0) rows.push({ measure: `searches ${lane} answered incomplete`, value: String(s.incomplete), promise: "= 0", ok: false });
    const gap = longestSearchGap(load, { lane });
    rows.push({
      measure: `longest gap without a successful search (${lane})`,
      value: ms(gap),
      ...(promised.has(lane) ? { promise: `<= ${gapLimit} ms`, ok: gap <= gapLimit } : {}),
    });
  }
  for (const site of verify.sites) {
    rows.push({ measure: `site ${site.site}: acknowledged live ids found`, value: `${site.expected - site.missing} / ${site.expected}`, promise: "all", ok: site.missing === 0 });
    rows.push({ measure: `site ${site.site}: deleted ids found`, value: String(site.deletedFound), promise: "= 0", ok: site.deletedFound === 0 });
    rows.push({ measure: `site ${site.site}: unacknowledged ids stored (in-flight writes)`, value: String(site.unacknowledgedFound) });
    if (site.problems.length > 0) rows.push({ measure: `site ${site.site}: listing problems`, value: site.problems.slice(0, 3).join("; "), ok: false });
  }
  rows.push({ measure: "both sites hold the same ids", value: verify.sitesAgree ? "yes" : "no", promise: "yes", ok: verify.sitesAgree });
  // Verification starts once the load stopped: converging at the first check only bounds the time.
  const catchUp = verify.catchUpMs === undefined ? "never" : `${verify.checks === 1 ? "<= " : ""}${ms(verify.catchUpMs)}`;
  rows.push({ measure: "catch-up time (from restore)", value: catchUp, promise: "converges", ok: verify.catchUpMs !== undefined });
  return rows;
}
