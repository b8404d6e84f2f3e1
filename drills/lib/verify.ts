import { setTimeout as sleep } from "node:timers/promises";
import type { ChannelCredentials } from "@grpc/grpc-js";
import { Etcd3 } from "etcd3";
import { AppError, MEMBER_PREFIX, Member, createClient, etcdCredentials, parseSiteShardKey, type TlsFiles } from "@taj/common";
import { Modality, ShardService } from "@taj/proto";
import { expectedLive, type LoadResult } from "./load.ts";

/** gRPC addresses of the replicas of a site that hold a partition. */
export type Holders = (site: string, partition: number) => string[] | Promise<string[]>;

export interface SiteHoldings {
  site: string;
  /** Drill ids held by the site (union over its replicas). */
  ids: Set<string>;
  /** Partitions whose replicas at this site disagree, or that no replica could list. */
  problems: string[];
}

export interface SiteCheck {
  site: string;
  held: number;
  /** Acknowledged and not deleted. */
  expected: number;
  /** Expected ids the site does not hold: acknowledged writes lost (must be 0). */
  missing: number;
  /** Ids whose delete was acknowledged but that the site still holds: resurrected (must be 0). */
  deletedFound: number;
  /** Held ids that were never acknowledged: enrollments in flight at a failure, stored anyway (allowed). */
  unacknowledgedFound: number;
  problems: string[];
}

export interface Verification {
  sites: SiteCheck[];
  /** True when every site holds exactly the same drill ids. */
  sitesAgree: boolean;
  /** Every site holds every expected id, no deleted id, and the sites agree. */
  ok: boolean;
}

async function listPartition(
  address: string, credentials: ChannelCredentials, partition: number, prefix: string, timeoutMs: number,
): Promise<string[]> {
  const client = createClient(ShardService, address, credentials);
  const ids: string[] = [];
  try {
    let after = "";
    for (let page = 0; page < 1_000; page++) {
      const res = await client.listTemplates({ modality: Modality.FACE, partition, afterId: after, limit: 10_000 }, { timeoutMs });
      for (const id of res.ids) if (id.startsWith(prefix)) ids.push(id);
      if (!res.more || res.ids.length === 0) break;
      after = res.ids[res.ids.length - 1]!;
    }
    return ids;
  } finally {
    client.close();
  }
}

/** What each site's replicas hold, over every partition; ids outside `prefix` are ignored. */
export async function siteHoldings(
  sites: string[], partitionCount: number, holders: Holders, prefix: string, credentials: ChannelCredentials, timeoutMs = 5_000,
): Promise<SiteHoldings[]> {
  return Promise.all(
    sites.map(async (site) => {
      const ids = new Set<string>();
      const problems: string[] = [];
      for (let p = 0; p < partitionCount; p++) {
        const addresses = await holders(site, p);
        if (addresses.length === 0) problems.push(`p${p}: no replica`);
        const lists = await Promise.all(
          addresses.map((a) =>
            listPartition(a, credentials, p, prefix, timeoutMs).catch((err: unknown) => {
              problems.push(`p${p}@${a}: ${AppError.from(err).message}`);
              return undefined;
            }),
          ),
        );
        const sets = lists.filter((l) => l !== undefined).map((l) => new Set(l));
        for (const s of sets) for (const id of s) ids.add(id);
        if (sets.some((s) => s.size !== ids.size && sets.length > 1)) problems.push(`p${p}: replicas disagree`);
      }
      return { site, ids, problems };
    }),
  );
}

/** Compares what each site holds with what the load generator was told. */
export function compare(load: LoadResult, holdings: SiteHoldings[]): Verification {
  const expected = expectedLive(load);
  const deleted = new Set(load.deleted.map((d) => d.id));
  // An id deleted and never re-enrolled must be gone (the load generator never reuses ids).
  for (const id of expected) deleted.delete(id);
  const acknowledged = new Set([...load.enrolled.map((w) => w.id)]);
  const sites = holdings.map((h): SiteCheck => {
    let missing = 0;
    for (const id of expected) if (!h.ids.has(id)) missing++;
    let deletedFound = 0;
    let unacknowledgedFound = 0;
    for (const id of h.ids) {
      if (deleted.has(id)) deletedFound++;
      if (!acknowledged.has(id)) unacknowledgedFound++;
    }
    return { site: h.site, held: h.ids.size, expected: expected.size, missing, deletedFound, unacknowledgedFound, problems: h.problems };
  });
  const [first, ...rest] = holdings;
  const sitesAgree = rest.every((h) => h.ids.size === first?.ids.size && [...h.ids].every((id) => first.ids.has(id)));
  const ok = sitesAgree && sites.every((s) => s.missing === 0 && s.deletedFound === 0 && s.problems.length === 0);
  return { sites, sitesAgree, ok };
}

export interface VerifyOptions {
  /** The operator's (admin) credentials: shards admit coordinators and admins only. */
  credentials: ChannelCredentials;
  sites: string[];
  partitionCount: number;
  holders: Holders;
  /** Poll until ok or this long (default 60 s). */
  timeoutMs?: number;
  intervalMs?: number;
  /** Catch-up time is measured from here (e.g. the restore); default: when verify starts. */
  since?: number;
  /** Called after every comparison that is not yet ok (progress, diagnostics). */
  onCheck?: (v: Verification, check: number) => void;
}

export interface VerifyResult extends Verification {
  /** ms from `since` until every site held the same, complete set; undefined if that never happened. */
  catchUpMs: number | undefined;
  checks: number;
}

/**
 * After a drill: polls every site's replicas until they hold exactly the acknowledged, undeleted
 * ids (and the same set), or the timeout passes; returns the last comparison and the catch-up time.
 */
export async function verifySites(load: LoadResult, options: VerifyOptions): Promise<VerifyResult> {
  const since = options.since ?? Date.now();
  const until = Date.now() + (options.timeoutMs ?? 60_000);
  let checks = 0;
  for (;;) {
    checks++;
    const holdings = await siteHoldings(options.sites, options.partitionCount, options.holders, load.idPrefix, options.credentials);
    const v = compare(load, holdings);
    if (v.ok) return { ...v, catchUpMs: Math.max(0, Date.now() - since), checks };
    if (Date.now() >= until) return { ...v, catchUpMs: undefined, checks };
    options.onCheck?.(v, checks);
    await sleep(options.intervalMs ?? 500);
  }
}

/**
 * Holders from etcd's live member keys (what the coordinators route by): use after partitions
 * moved, where a static layout would be stale.
 */
export async function holdersFromEtcd(endpoints: string[], tls: TlsFiles): Promise<Holders> {
  const client = new Etcd3({ hosts: endpoints, credentials: etcdCredentials(tls) });
  try {
    const kvs = await client.getAll().prefix(MEMBER_PREFIX).strings();
    const table: Array<{ site: string; address: string; partitions: Set<number> }> = [];
    for (const [key, value] of Object.entries(kvs)) {
      const where = parseSiteShardKey(MEMBER_PREFIX, key);
      const member = Member.safeParse(JSON.parse(value));
      if (!where || !member.success) continue;
      table.push({ site: where.site, address: member.data.address, partitions: new Set(member.data.partitions) });
    }
    return (site, partition) => table.filter((m) => m.site === site && m.partitions.has(partition)).map((m) => m.address);
  } finally {
    client.close();
  }
}

/**
 * Polls ShardStatus of the given replicas until each has applied the log up to `target` (e.g. the
 * last sequence acknowledged before a restore); returns how long that took, or undefined on timeout.
 */
export async function waitApplied(
  addresses: string[], credentials: ChannelCredentials, target: bigint, options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<number | undefined> {
  const started = Date.now();
  const until = started + (options.timeoutMs ?? 120_000);
  const clients = addresses.map((a) => createClient(ShardService, a, credentials));
  try {
    for (;;) {
      const applied = await Promise.all(
        clients.map((c) => c.shardStatus({}, { timeoutMs: 1_000 }).then((s) => s.appliedSequence, () => 0n)),
      );
      if (applied.every((s) => s >= target)) return Date.now() - started;
      if (Date.now() >= until) return undefined;
      await sleep(options.intervalMs ?? 250);
    }
  } finally {
    for (const c of clients) c.close();
  }
}
