import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Modality, StatsResponseSchema } from "@taj/proto";
import type { CallContext } from "@taj/common";
import { deadlineOf, type GatewayDeps } from "../deps.ts";

/** Cluster health as the coordinator sees it, plus how far the template log has gone. */
export async function stats(deps: GatewayDeps, ctx: CallContext): Promise<MessageInitShape<typeof StatsResponseSchema>> {
  const deadline = deadlineOf(ctx, deps);
  const [status, lastSequence] = await Promise.all([
    deps.coordinators.clusterStatus({ deadline, signal: ctx.signal }),
    deps.log.lastSequence(),
  ]);
  return {
    partitionCount: status.partitionCount,
    shards: status.shards.map((s) => {
      const counts = new Map<Modality, bigint>();
      for (const c of s.status?.counts ?? []) counts.set(c.modality, (counts.get(c.modality) ?? 0n) + c.templates);
      return {
        shardId: s.shardId,
        site: s.site,
        address: s.address,
        alive: s.alive,
        partitions: s.assignedPartitions,
        appliedSequence: s.status?.appliedSequence ?? 0n,
        counts: [...counts].map(([modality, templates]) => ({ modality, templates })),
      };
    }),
    uncovered: Object.entries(status.uncoveredBySite)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([site, u]) => ({ site, partitions: u.partitions })),
    logLastSequence: lastSequence,
  };
}
