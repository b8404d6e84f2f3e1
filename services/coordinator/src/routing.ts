import type { ClusterTable, LiveMember } from "./cluster-table.ts";

export interface RoutePlan {
  /** Replica address -> the partitions it is asked to search. */
  calls: Map<string, { member: LiveMember; partitions: number[] }>;
  /** Partitions no usable replica can serve. */
  uncovered: number[];
}

/**
 * Picks one live replica for each partition: the local site first, then any other site.
 * Among equals, the replica that already serves most of the wanted partitions wins, so a
 * search makes as few calls as it can; ties break on the shard id so plans are stable.
 * `excluded` holds addresses that already failed during this search.
 */
export function planRoute(
  table: ClusterTable,
  partitions: readonly number[],
  localSite: string,
  excluded: ReadonlySet<string> = new Set(),
): RoutePlan {
  const usable = [...table.members.values()].filter((m) => !excluded.has(m.address));
  const wanted = new Set(partitions);
  const coverage = (m: LiveMember) => m.partitions.filter((p) => wanted.has(p)).length;
  usable.sort(
    (a, b) =>
      Number(a.site !== localSite) - Number(b.site !== localSite) ||
      coverage(b) - coverage(a) ||
      a.site.localeCompare(b.site) ||
      a.shardId.localeCompare(b.shardId),
  );
  const calls: RoutePlan["calls"] = new Map();
  const uncovered: number[] = [];
  for (const p of partitions) {
    const member = usable.find((m) => m.partitions.includes(p));
    if (!member) {
      uncovered.push(p);
      continue;
    }
    const call = calls.get(member.address) ?? { member, partitions: [] };
    call.partitions.push(p);
    calls.set(member.address, call);
  }
  return { calls, uncovered };
}

export function allPartitions(count: number): number[] {
  return Array.from({ length: count }, (_, p) => p);
}

/**
 * Plans around replicas that failed recently (`cooling`) as well as those that failed during this
 * search, but still uses a cooling replica when it is the only one left for a partition: a replica
 * that is back must not be shunned for lack of an alternative.
 */
export function planAvoiding(
  table: ClusterTable,
  partitions: readonly number[],
  localSite: string,
  failed: ReadonlySet<string>,
  cooling: ReadonlySet<string>,
): RoutePlan {
  const plan = planRoute(table, partitions, localSite, new Set([...failed, ...cooling]));
  if (plan.uncovered.length === 0 || cooling.size === 0) return plan;
  const rescue = planRoute(table, plan.uncovered, localSite, failed);
  for (const [address, call] of rescue.calls) {
    const existing = plan.calls.get(address);
    if (existing) existing.partitions.push(...call.partitions);
    else plan.calls.set(address, call);
  }
  return { calls: plan.calls, uncovered: rescue.uncovered };
}
