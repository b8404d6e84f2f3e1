import Table from "cli-table3";
import type { MoveReport } from "./move.ts";
import type { Plan } from "./plan.ts";
import { ranges, type StatusReport } from "./status.ts";

// No colours: output is read in terminals, pasted in tickets and compared in tests alike.
const table = (head: string[]) => new Table({ head, style: { head: [], border: [], compact: false } });

const templatesText = (t: Record<string, number> | undefined) =>
  t === undefined ? "?" : Object.keys(t).length === 0 ? "0" : Object.entries(t).sort().map(([m, n]) => `${m} ${n}`).join(", ");

export function renderStatus(report: StatusReport): string {
  const out: string[] = [];
  const head = `partitions: ${report.partitionCount}   log last sequence: ${report.lastSequence ?? "- (no --nats)"}   health: ${report.healthy ? "OK" : "DEGRADED"}`;
  out.push(head);

  const sites = table(["site", "shards alive", "templates", "uncovered partitions", "unassigned partitions"]);
  for (const s of report.sites) {
    sites.push([s.site, `${s.alive}/${s.shards}`, templatesText(s.templates), ranges(s.uncovered) || "none", ranges(s.unassigned) || "none"]);
  }
  out.push(sites.toString());

  const shards = table(["site", "shard", "alive", "address", "assigned", "loaded", "templates", "applied seq", "lag"]);
  for (const r of report.shards) {
    shards.push([
      r.site, r.shard, r.alive ? "yes" : "NO", r.address || "-",
      `${ranges(r.assigned) || "-"} (${r.assigned.length})`, `${ranges(r.loaded) || "-"} (${r.loaded.length})`,
      r.error ? `error: ${r.error}` : templatesText(r.templates) + projectionsText(r.projections),
      r.appliedSequence === undefined ? "-" : String(r.appliedSequence), r.lag === undefined ? "-" : String(r.lag),
    ]);
  }
  out.push(shards.toString());

  if (report.coordinators.length > 0) {
    const c = table(["coordinator", "status"]);
    for (const row of report.coordinators) c.push([row.address, row.ok ? "ok" : `UNREACHABLE ${row.error ?? ""}`]);
    out.push(c.toString());
  }
  out.push(report.problems.length === 0 ? "no problems" : `problems:\n${report.problems.map((p) => `  - ${p}`).join("\n")}`);
  return out.join("\n");
}

export function renderPlan(plan: Plan, partitionCount: number): string {
  const out: string[] = [];
  const t = table(["shard", "partitions after", "count"]);
  for (const [shard, partitions] of plan.target) t.push([shard, ranges(partitions) || "-", String(partitions.length)]);
  for (const shard of plan.retired) t.push([shard, "(retired: assignment deleted)", "0"]);
  out.push(`site ${plan.site}: ${plan.moves.length} partition move(s) of ${partitionCount}`);
  out.push(t.toString());
  if (plan.moves.length > 0) {
    const m = table(["partition", "from", "to"]);
    for (const move of plan.moves) m.push([String(move.partition), move.from.join(",") || "(unassigned)", move.to]);
    out.push(m.toString());
  }
  return out.join("\n");
}

export function renderMoves(reports: MoveReport[]): string {
  if (reports.length === 0) return "no partition moved";
  const t = table(["partition", "from", "to", "loaded after", "done after"]);
  for (const r of reports) t.push([String(r.partition), r.from.join(",") || "-", r.to, seconds(r.loadMs), seconds(r.totalMs)]);
  const longest = Math.max(...reports.map((r) => r.totalMs));
  return `${t.toString()}\n${reports.length} partition(s) moved; longest ${seconds(longest)}`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** " (tattoo: projection v2)" for the modalities whose indexes hold a projection; "" for none. */
function projectionsText(projections: Record<string, number> | undefined): string {
  const held = Object.entries(projections ?? {});
  return held.length === 0 ? "" : ` (${held.map(([m, v]) => `${m}: projection v${v}`).join(", ")})`;
}
