import { Etcd3 } from "etcd3";
import { etcdCredentials, parsePartitionCount, type TlsFiles } from "@taj/common";
import {
  ASSIGNMENT_PREFIX, Assignment, MEMBER_PREFIX, Member, PARTITION_COUNT_KEY, assignmentKey, memberKey, parseSiteShardKey,
} from "@taj/common";

/** What etcd says about the cluster: desired assignments and live members, per site. */
export interface Layout {
  partitionCount: number;
  /** site -> shard -> assigned partitions (desired state). */
  assignments: Map<string, Map<string, number[]>>;
  /** site -> shard -> live member entry (lease-bound, written by the shard). */
  members: Map<string, Map<string, Member>>;
}

export function etcdClient(endpoints: string[], tls: TlsFiles): Etcd3 {
  // Bounded unary calls: an unreachable etcd must fail a command, not hang it.
  return new Etcd3({
    hosts: endpoints,
    credentials: etcdCredentials(tls),
    dialTimeout: 3_000,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 5_000 }),
  });
}

function put<V>(outer: Map<string, Map<string, V>>, site: string, shard: string, value: V): void {
  const inner = outer.get(site) ?? new Map<string, V>();
  inner.set(shard, value);
  outer.set(site, inner);
}

export async function readLayout(etcd: Etcd3): Promise<Layout> {
  const raw = await etcd.get(PARTITION_COUNT_KEY).string();
  const partitionCount = parsePartitionCount(raw);
  if (partitionCount === undefined) throw new Error(`bad partition count in etcd: ${raw}`);
  const assignments = new Map<string, Map<string, number[]>>();
  for (const [key, value] of Object.entries(await etcd.getAll().prefix(ASSIGNMENT_PREFIX).strings())) {
    const where = parseSiteShardKey(ASSIGNMENT_PREFIX, key);
    const parsed = safeJson(Assignment, value);
    if (where && parsed) put(assignments, where.site, where.shardId, [...new Set(parsed.partitions)].sort((a, b) => a - b));
  }
  const members = new Map<string, Map<string, Member>>();
  for (const [key, value] of Object.entries(await etcd.getAll().prefix(MEMBER_PREFIX).strings())) {
    const where = parseSiteShardKey(MEMBER_PREFIX, key);
    const parsed = safeJson(Member, value);
    if (where && parsed) put(members, where.site, where.shardId, parsed);
  }
  return { partitionCount, assignments, members };
}

function safeJson<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, value: string): T | undefined {
  try {
    const r = schema.safeParse(JSON.parse(value));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export function sitesOf(layout: Layout): string[] {
  return [...new Set([...layout.assignments.keys(), ...layout.members.keys()])].sort();
}

export async function readMember(etcd: Etcd3, site: string, shard: string): Promise<Member | undefined> {
  const raw = await etcd.get(memberKey(site, shard)).string();
  return raw === null ? undefined : safeJson(Member, raw);
}

/**
 * Read-modify-write of one shard's assignment in a transaction on the key's mod revision, so two
 * writers (or an operator's manual edit) never lose each other's change. `change` returns the new
 * list, or undefined to delete the key.
 */
export async function updateAssignment(
  etcd: Etcd3, site: string, shard: string, change: (partitions: number[]) => number[] | undefined,
): Promise<number[] | undefined> {
  const key = assignmentKey(site, shard);
  for (let attempt = 0; attempt < 20; attempt++) {
    const response = await etcd.get(key).exec();
    const kv = response.kvs[0];
    const current = kv ? safeJson(Assignment, kv.value.toString())?.partitions ?? [] : [];
    const next = change([...new Set(current)].sort((a, b) => a - b));
    const normalised = next === undefined ? undefined : [...new Set(next)].sort((a, b) => a - b);
    const txn = etcd.if(key, "Mod", "==", kv ? kv.mod_revision : "0");
    const result = normalised === undefined
      ? await txn.then(etcd.delete().key(key)).commit()
      : await txn.then(etcd.put(key).value(JSON.stringify({ partitions: normalised }))).commit();
    if (result.succeeded) return normalised;
  }
  throw new Error(`assignment of ${site}/${shard} keeps changing under us; gave up`);
}
