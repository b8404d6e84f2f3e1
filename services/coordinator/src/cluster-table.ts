import {
  ASSIGNMENT_PREFIX, Assignment, DEFAULT_PARTITION_COUNT, MEMBER_PREFIX, Member, PARTITION_COUNT_KEY, parsePartitionCount, parseSiteShardKey,
} from "@taj/common";

export interface ShardRef {
  site: string;
  shardId: string;
}

export interface LiveMember extends ShardRef {
  address: string;
  /** Partitions this replica has loaded and caught up with, so can answer for. */
  partitions: readonly number[];
}

/** What the coordinator knows of the cluster: an immutable snapshot rebuilt on every etcd event. */
export interface ClusterTable {
  partitionCount: number;
  /** Desired state, keyed "site/shardId". */
  assignments: ReadonlyMap<string, ShardRef & { partitions: readonly number[] }>;
  /** Live state, keyed "site/shardId"; a key exists only while its shard's lease does. */
  members: ReadonlyMap<string, LiveMember>;
}

export const emptyTable = (): ClusterTable => ({
  partitionCount: DEFAULT_PARTITION_COUNT,
  assignments: new Map(),
  members: new Map(),
});

export type TableEvent =
  | { type: "put"; key: string; value: string }
  | { type: "delete"; key: string };

/** Thrown away values (bad JSON, unknown keys) are reported so the caller can log them. */
export interface ApplyResult {
  table: ClusterTable;
  ignored?: string;
}

function parseJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/** Applies one etcd change to the table, returning a new table (the old one is never mutated). */
export function applyEvent(table: ClusterTable, event: TableEvent): ApplyResult {
  if (event.key === PARTITION_COUNT_KEY) {
    if (event.type === "delete") return { table: { ...table, partitionCount: DEFAULT_PARTITION_COUNT } };
    const count = parsePartitionCount(event.value);
    if (count === undefined) return { table, ignored: `bad partition count at ${event.key}` };
    return { table: { ...table, partitionCount: count } };
  }
  const assignment = parseSiteShardKey(ASSIGNMENT_PREFIX, event.key);
  if (assignment) {
    const assignments = new Map(table.assignments);
    const key = `${assignment.site}/${assignment.shardId}`;
    if (event.type === "delete") {
      assignments.delete(key);
      return { table: { ...table, assignments } };
    }
    const parsed = Assignment.safeParse(parseJson(event.value));
    if (!parsed.success) return { table, ignored: `bad assignment at ${event.key}` };
    assignments.set(key, { ...assignment, partitions: parsed.data.partitions });
    return { table: { ...table, assignments } };
  }
  const member = parseSiteShardKey(MEMBER_PREFIX, event.key);
  if (member) {
    const members = new Map(table.members);
    const key = `${member.site}/${member.shardId}`;
    if (event.type === "delete") {
      members.delete(key);
      return { table: { ...table, members } };
    }
    const parsed = Member.safeParse(parseJson(event.value));
    if (!parsed.success) return { table, ignored: `bad member at ${event.key}` };
    members.set(key, { ...member, address: parsed.data.address, partitions: parsed.data.partitions });
    return { table: { ...table, members } };
  }
  return { table };
}

/** Builds a table from a full read of the key space. */
export function tableFromKeys(kvs: Iterable<readonly [string, string]>): ApplyResult {
  let table = emptyTable();
  const ignored: string[] = [];
  for (const [key, value] of kvs) {
    const result = applyEvent(table, { type: "put", key, value });
    table = result.table;
    if (result.ignored) ignored.push(result.ignored);
  }
  return ignored.length > 0 ? { table, ignored: ignored.join("; ") } : { table };
}

/** Every site the table mentions, sorted, so reports are stable. */
export function sitesOf(table: ClusterTable): string[] {
  const sites = new Set<string>();
  for (const a of table.assignments.values()) sites.add(a.site);
  for (const m of table.members.values()) sites.add(m.site);
  return [...sites].sort();
}

/** Partitions with no live replica at each site. */
export function uncoveredBySite(table: ClusterTable, sites: readonly string[] = sitesOf(table)): Map<string, number[]> {
  const result = new Map<string, number[]>();
  for (const site of sites) {
    const covered = new Set<number>();
    for (const m of table.members.values()) if (m.site === site) for (const p of m.partitions) covered.add(p);
    const uncovered: number[] = [];
    for (let p = 0; p < table.partitionCount; p++) if (!covered.has(p)) uncovered.push(p);
    result.set(site, uncovered);
  }
  return result;
}
