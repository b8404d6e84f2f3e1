import type { Etcd3 } from "etcd3";
import { CoordinatorService, ShardService, type ShardStatusResponse } from "@taj/proto";
import type { ChannelCredentials } from "@grpc/grpc-js";
import {
  AppError, TEMPLATE_STREAM, channelCredentials, createClient, errorCodeName, modalityName, type Member, type TlsFiles,
} from "@taj/common";
import { readLayout, sitesOf, type Layout } from "./layout.ts";
import { compareShardIds } from "./plan.ts";
import { withNats } from "./nats.ts";

export interface ShardRow {
  site: string;
  shard: string;
  /** Has a live (lease-bound) member entry. */
  alive: boolean;
  address: string;
  assigned: number[];
  /** Partitions the shard lists as loaded and caught up (its member entry). */
  loaded: number[];
  /** Templates per modality over the partitions it lists; undefined if it did not answer. */
  templates?: Record<string, number>;
  /** Per (modality, partition) counts behind `templates`. */
  counts?: Array<{ modality: string; modelId: string; partition: number; templates: number }>;
  appliedSequence?: number;
  /** Projection version each modality's indexes hold (modalities on raw templates absent). */
  projections?: Record<string, number>;
  /** Stream last sequence minus applied sequence; undefined without the stream's head. */
  lag?: number;
  error?: string;
}

export interface SiteRow {
  site: string;
  shards: number;
  alive: number;
  /** Partitions no live member of the site lists: unsearchable there. */
  uncovered: number[];
  /** Partitions in no assignment at the site. */
  unassigned: number[];
  /** Templates per modality, each partition counted once (from one replica that lists it). */
  templates: Record<string, number>;
}

export interface CoordinatorRow {
  address: string;
  ok: boolean;
  error?: string;
}

export interface StatusReport {
  at: string;
  partitionCount: number;
  /** The template log's last sequence, when --nats was given. */
  lastSequence?: number;
  sites: SiteRow[];
  shards: ShardRow[];
  coordinators: CoordinatorRow[];
  healthy: boolean;
  problems: string[];
}

export interface StatusOptions {
  /** The operator's certificate (kind admin): shards and coordinators admit only admins besides their callers. */
  tls: TlsFiles;
  natsUrls?: string[];
  coordinators?: string[];
  /** Lag (events) above which a shard is reported as behind; default 1000. */
  lagWarn?: number;
  callTimeoutMs?: number;
}

const message = (err: unknown) => {
  const e = AppError.from(err);
  return `${errorCodeName(e.code)}: ${e.message}`;
};

async function streamLastSequence(urls: string[], tls: TlsFiles): Promise<number> {
  // A probe (cron, readiness): 3 s, not the commands' 5.
  return withNats(urls, tls, "status", async (nc) => (await (await nc.jetstreamManager({ timeout: 3_000 })).streams.info(TEMPLATE_STREAM)).state.last_seq, 3_000);
}

async function shardStatus(address: string, credentials: ChannelCredentials, timeoutMs: number): Promise<ShardStatusResponse> {
  const client = createClient(ShardService, address, credentials);
  try {
    return await client.shardStatus({}, { timeoutMs });
  } finally {
    client.close();
  }
}

async function coordinatorOk(address: string, credentials: ChannelCredentials, timeoutMs: number): Promise<CoordinatorRow> {
  const client = createClient(CoordinatorService, address, credentials);
  try {
    await client.clusterStatus({}, { timeoutMs });
    return { address, ok: true };
  } catch (err) {
    return { address, ok: false, error: message(err) };
  } finally {
    client.close();
  }
}

/** Reads etcd, asks every live shard (and coordinators, the log's head if given) and builds the report. */
export async function gatherStatus(etcd: Etcd3, options: StatusOptions): Promise<StatusReport> {
  const timeoutMs = options.callTimeoutMs ?? 2_000;
  const credentials = channelCredentials(options.tls);
  const layout = await readLayout(etcd);
  const problems: string[] = [];
  let lastSequence: number | undefined;
  if (options.natsUrls && options.natsUrls.length > 0) {
    try {
      lastSequence = await streamLastSequence(options.natsUrls, options.tls);
    } catch (err) {
      problems.push(`template log unreachable: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const rows = shardRows(layout);
  await Promise.all(
    rows.filter((r) => r.alive).map(async (row) => {
      try {
        applyShardStatus(row, await shardStatus(row.address, credentials, timeoutMs), lastSequence);
      } catch (err) {
        row.error = message(err);
      }
    }),
  );
  const coordinators = await Promise.all((options.coordinators ?? []).map((a) => coordinatorOk(a, credentials, timeoutMs)));
  return buildReport(layout, rows, coordinators, lastSequence, problems, options.lagWarn ?? 1_000);
}

export function shardRows(layout: Layout): ShardRow[] {
  const rows: ShardRow[] = [];
  for (const site of sitesOf(layout)) {
    const assigned = layout.assignments.get(site) ?? new Map<string, number[]>();
    const members = layout.members.get(site) ?? new Map<string, Member>();
    const ids = [...new Set([...assigned.keys(), ...members.keys()])].sort(compareShardIds);
    for (const shard of ids) {
      const member = members.get(shard);
      rows.push({
        site, shard, alive: member !== undefined, address: member?.address ?? "",
        assigned: assigned.get(shard) ?? [], loaded: member ? [...member.partitions].sort((a, b) => a - b) : [],
      });
    }
  }
  return rows;
}

export function applyShardStatus(row: ShardRow, s: ShardStatusResponse, lastSequence: number | undefined): void {
  const listed = new Set(row.loaded);
  const templates: Record<string, number> = {};
  row.counts = [];
  for (const c of s.counts) {
    if (!listed.has(c.partition)) continue;
    const m = modalityName(c.modality);
    templates[m] = (templates[m] ?? 0) + Number(c.templates);
    row.counts.push({ modality: m, modelId: c.modelId, partition: c.partition, templates: Number(c.templates) });
  }
  row.templates = templates;
  row.appliedSequence = Number(s.appliedSequence);
  row.projections = Object.fromEntries(s.projections.map((p) => [modalityName(p.modality), p.version]));
  if (lastSequence !== undefined) row.lag = Math.max(0, lastSequence - row.appliedSequence);
}

/** Pure: site summaries and the list of problems from the gathered rows. */
export function buildReport(
  layout: Layout, rows: ShardRow[], coordinators: CoordinatorRow[], lastSequence: number | undefined, problems: string[], lagWarn: number,
): StatusReport {
  const all = Array.from({ length: layout.partitionCount }, (_, p) => p);
  const sites: SiteRow[] = sitesOf(layout).map((site) => {
    const mine = rows.filter((r) => r.site === site);
    const covered = new Set(mine.filter((r) => r.alive).flatMap((r) => r.loaded));
    const assigned = new Set(mine.flatMap((r) => r.assigned));
    return {
      site,
      shards: mine.length,
      alive: mine.filter((r) => r.alive).length,
      uncovered: all.filter((p) => !covered.has(p)),
      unassigned: all.filter((p) => !assigned.has(p)),
      templates: siteTemplates(mine),
    };
  });
  for (const s of sites) {
    if (s.uncovered.length > 0) problems.push(`site ${s.site}: partitions ${ranges(s.uncovered)} have no live replica (searches there use the other site)`);
    if (s.unassigned.length > 0) problems.push(`site ${s.site}: partitions ${ranges(s.unassigned)} are assigned to no shard (run tajctl rebalance --site ${s.site})`);
  }
  for (const r of rows) {
    const name = `${r.site}/${r.shard}`;
    if (!r.alive && r.assigned.length > 0) problems.push(`shard ${name} is assigned partitions but not running`);
    if (r.alive && r.error) problems.push(`shard ${name} did not answer ShardStatus (${r.error})`);
    if (r.lag !== undefined && r.lag > lagWarn) problems.push(`shard ${name} is ${r.lag} events behind the log`);
    const loading = r.assigned.filter((p) => !r.loaded.includes(p));
    if (r.alive && loading.length > 0) problems.push(`shard ${name} is still loading partitions ${ranges(loading)}`);
  }
  for (const c of coordinators) if (!c.ok) problems.push(`coordinator ${c.address} unreachable (${c.error ?? "no answer"})`);
  return {
    at: new Date().toISOString(),
    partitionCount: layout.partitionCount,
    ...(lastSequence === undefined ? {} : { lastSequence }),
    sites, shards: rows, coordinators,
    healthy: problems.length === 0,
    problems,
  };
}

/** Counts each (modality, model, partition) once per site: while a partition moves, two replicas list it. */
function siteTemplates(rows: ShardRow[]): Record<string, number> {
  const seen = new Set<string>();
  const out: Record<string, number> = {};
  for (const r of rows) {
    for (const c of r.counts ?? []) {
      const key = `${c.modality}/${c.modelId}/${c.partition}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out[c.modality] = (out[c.modality] ?? 0) + c.templates;
    }
  }
  return out;
}

/** [0,1,2,3,7,9,10] -> "0-3,7,9-10". */
export function ranges(partitions: readonly number[]): string {
  const sorted = [...new Set(partitions)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}
