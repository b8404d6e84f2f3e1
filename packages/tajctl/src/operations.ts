import type { Etcd3 } from "etcd3";
import { readLayout, type Layout } from "./layout.ts";
import { acquireMoveLock } from "./lock.ts";
import { executePlan, type ExecuteOptions, type MoveReport } from "./move.ts";
import { checkPlan, compareShardIds, planBalanced, shardsAfter, shardsForCount, PlanError, type Plan } from "./plan.ts";

/** What the operator asked for at one site. */
export type Change =
  | { kind: "scale"; shards: number }
  | { kind: "add"; shards: string[] }
  | { kind: "remove"; shards: string[] }
  | { kind: "drain"; shard: string }
  | { kind: "rebalance" };

export function assignedShards(layout: Layout, site: string): string[] {
  return [...(layout.assignments.get(site)?.keys() ?? [])].sort(compareShardIds);
}

/** Live members of the site with no assignment key: started, registered, owning nothing yet. */
export function idleShards(layout: Layout, site: string): string[] {
  const assigned = new Set(assignedShards(layout, site));
  return [...(layout.members.get(site)?.keys() ?? [])].filter((s) => !assigned.has(s)).sort(compareShardIds);
}

export function planChange(layout: Layout, site: string, change: Change): Plan {
  const current = layout.assignments.get(site) ?? new Map<string, number[]>();
  const assigned = assignedShards(layout, site);
  if (assigned.length === 0 && change.kind !== "add" && change.kind !== "scale") throw new PlanError(`site ${site} has no assigned shard`);
  let shards: string[];
  switch (change.kind) {
    case "scale":
      shards = shardsForCount(assigned, idleShards(layout, site), change.shards);
      break;
    case "add": {
      const live = new Set(layout.members.get(site)?.keys() ?? []);
      const missing = change.shards.filter((s) => !live.has(s));
      if (missing.length > 0) throw new PlanError(`shard(s) ${missing.join(",")} at site ${site} are not live members: start them first`);
      shards = shardsAfter(assigned, { add: change.shards });
      break;
    }
    case "remove":
      shards = shardsAfter(assigned, { remove: change.shards });
      break;
    case "drain":
      shards = shardsAfter(assigned, { remove: [change.shard] });
      break;
    case "rebalance":
      shards = assigned;
      break;
  }
  const plan = planBalanced(site, layout.partitionCount, current, shards);
  checkPlan(plan, layout.partitionCount);
  return plan;
}

export interface RunOptions extends ExecuteOptions {
  dryRun?: boolean;
  /** How long to wait for another run's lock; default 0 (fail at once, naming the holder). */
  lockWaitMs?: number;
  onPlan?: (plan: Plan) => void;
}

/**
 * Takes the move lock, reads the layout and plans under it (a plan made before the lock could be
 * stale), runs the moves, releases. A dry run plans without the lock and writes nothing.
 */
export async function runChange(etcd: Etcd3, site: string, change: Change, options: RunOptions = {}): Promise<{ plan: Plan; reports: MoveReport[] }> {
  if (options.dryRun) {
    const plan = planChange(await readLayout(etcd), site, change);
    options.onPlan?.(plan);
    return { plan, reports: [] };
  }
  const lock = await acquireMoveLock(etcd, `${change.kind} at site ${site}`, { waitMs: options.lockWaitMs ?? 0 });
  try {
    const plan = planChange(await readLayout(etcd), site, change);
    options.onPlan?.(plan);
    const reports = await executePlan(etcd, plan, options);
    return { plan, reports };
  } finally {
    await lock.release().catch(() => undefined);
  }
}
