/**
 * Pure planning of partition moves at one site. The assignment is the desired state in etcd;
 * a plan says which shard should hold each partition afterwards and which partitions travel.
 * No I/O here, so the rules (balanced, fewest moves, nothing left unassigned) are unit-tested.
 */

/** shard id -> partitions assigned to it at one site. */
export type SiteAssignment = ReadonlyMap<string, readonly number[]>;

export interface Move {
  partition: number;
  /** Shards that hold the partition now and must let go of it (empty for an unassigned partition). */
  from: string[];
  to: string;
}

export interface Plan {
  site: string;
  /** The assignment once every move is done: every partition on exactly one shard. */
  target: Map<string, number[]>;
  moves: Move[];
  /** Shards that end with no partitions and whose assignment key is deleted (removed or drained). */
  retired: string[];
}

export class PlanError extends Error {}

const byNumber = (a: number, b: number) => a - b;

/**
 * Spreads [0, partitionCount) over `shards` so counts differ by at most one, keeping every
 * partition where it is when its shard stays and has room: the moves are the fewest that reach
 * a balanced layout. A partition assigned twice (an interrupted move) keeps one holder; one
 * assigned nowhere is given a home. Shards with fewer partitions get the extra one first, then
 * the order of `shards`, so the same input always gives the same plan.
 */
export function planBalanced(site: string, partitionCount: number, current: SiteAssignment, shards: readonly string[]): Plan {
  if (!Number.isInteger(partitionCount) || partitionCount < 1) throw new PlanError("partition count must be a positive integer");
  const targets = [...new Set(shards)];
  if (targets.length === 0) throw new PlanError(`site ${site}: at least one shard must remain`);

  const holders = new Map<number, string[]>();
  for (const [shard, partitions] of current) {
    for (const p of new Set(partitions)) {
      if (!Number.isInteger(p) || p < 0 || p >= partitionCount) continue;
      holders.set(p, [...(holders.get(p) ?? []), shard]);
    }
  }

  // Keep: each partition stays on the first staying holder (the one holding the fewest wins ties later).
  const kept = new Map<string, number[]>(targets.map((s) => [s, []]));
  const homeless: number[] = [];
  for (let p = 0; p < partitionCount; p++) {
    const stay = (holders.get(p) ?? []).filter((s) => kept.has(s)).sort((a, b) => targets.indexOf(a) - targets.indexOf(b));
    const keeper = stay[0];
    if (keeper === undefined) homeless.push(p);
    else kept.get(keeper)!.push(p);
  }

  // Quotas: floor or ceil of the mean; the ceil goes to the shards already holding most, so fewer partitions move.
  const base = Math.floor(partitionCount / targets.length);
  let extra = partitionCount % targets.length;
  const quota = new Map<string, number>();
  const byLoad = [...targets].sort((a, b) => kept.get(b)!.length - kept.get(a)!.length || targets.indexOf(a) - targets.indexOf(b));
  for (const s of byLoad) {
    quota.set(s, base + (extra > 0 && kept.get(s)!.length > base ? 1 : 0));
    if (kept.get(s)!.length > base && extra > 0) extra--;
  }
  for (const s of byLoad) {
    if (extra === 0) break;
    if (quota.get(s) === base) {
      quota.set(s, base + 1);
      extra--;
    }
  }

  // Overflow beyond quota joins the homeless; the highest partitions leave, so contiguous ranges stay together.
  for (const s of targets) {
    const mine = kept.get(s)!.sort(byNumber);
    const q = quota.get(s)!;
    if (mine.length > q) homeless.push(...mine.splice(q));
  }
  homeless.sort(byNumber);

  const target = new Map<string, number[]>(targets.map((s) => [s, [...kept.get(s)!]]));
  const moves: Move[] = [];
  for (const p of homeless) {
    const to = targets
      .filter((s) => target.get(s)!.length < quota.get(s)!)
      .sort((a, b) => target.get(a)!.length - target.get(b)!.length || targets.indexOf(a) - targets.indexOf(b))[0];
    if (to === undefined) throw new PlanError("internal: no shard below its quota");
    target.get(to)!.push(p);
    moves.push({ partition: p, from: (holders.get(p) ?? []).filter((s) => s !== to), to });
  }
  // Extra holders of kept partitions (an interrupted move) must let go too: a move with the keeper as target.
  for (const [s, partitions] of kept) {
    for (const p of partitions) {
      const others = (holders.get(p) ?? []).filter((h) => h !== s);
      if (others.length > 0) moves.push({ partition: p, from: others, to: s });
    }
  }
  for (const list of target.values()) list.sort(byNumber);
  moves.sort((a, b) => a.partition - b.partition);
  const retired = [...current.keys()].filter((s) => !target.has(s)).sort();
  return { site, target, moves, retired };
}

/** Scale a site to exactly these shards (`add`/`remove` applied to the current set). */
export function shardsAfter(current: readonly string[], change: { add?: readonly string[]; remove?: readonly string[]; exactly?: readonly string[] }): string[] {
  if (change.exactly) return [...new Set(change.exactly)];
  const remove = new Set(change.remove ?? []);
  for (const s of remove) if (!current.includes(s)) throw new PlanError(`shard ${s} is not assigned at this site`);
  return [...new Set([...current.filter((s) => !remove.has(s)), ...(change.add ?? [])])];
}

/** Every partition is held by exactly one shard of the target: checked before anything is written. */
export function checkPlan(plan: Plan, partitionCount: number): void {
  const seen = new Map<number, string>();
  for (const [shard, partitions] of plan.target) {
    for (const p of partitions) {
      const other = seen.get(p);
      if (other !== undefined) throw new PlanError(`partition ${p} planned on both ${other} and ${shard}`);
      seen.set(p, shard);
    }
  }
  const missing = Array.from({ length: partitionCount }, (_, p) => p).filter((p) => !seen.has(p));
  if (missing.length > 0) throw new PlanError(`partitions ${missing.join(",")} left unassigned`);
}

/**
 * Picks `count` shard ids for a site: the existing ones first (in order), then, if more are
 * wanted, live members of the site that hold no assignment yet, in id order. Removing drops the
 * last ids, as a StatefulSet scale-down removes the highest ordinals.
 */
export function shardsForCount(assigned: readonly string[], liveUnassigned: readonly string[], count: number): string[] {
  if (!Number.isInteger(count) || count < 1) throw new PlanError("--shards must be at least 1");
  const ordered = [...assigned].sort(compareShardIds);
  if (count <= ordered.length) return ordered.slice(0, count);
  const extra = [...liveUnassigned].filter((s) => !ordered.includes(s)).sort(compareShardIds);
  const need = count - ordered.length;
  if (extra.length < need) {
    throw new PlanError(
      `need ${need} more shard(s) but only ${extra.length} live unassigned shard(s) are registered (${extra.join(",") || "none"}): start them first`,
    );
  }
  return [...ordered, ...extra.slice(0, need)];
}

/** "a2" < "a10": numeric suffixes compare as numbers. */
export function compareShardIds(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}
