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
      // Per (modality, model): during a model upgrade, how far the new model covers the collection.
      const counts = new Map<string, { modality: Modality; modelId: string; templates: bigint }>();
      for (const c of s.status?.counts ?? []) {
        const key = `${c.modality}:${c.modelId}`;
        const sum = counts.get(key) ?? { modality: c.modality, modelId: c.modelId, templates: 0n };
        sum.templates += c.templates;
        counts.set(key, sum);
      }
      return {
        shardId: s.shardId,
        site: s.site,
        address: s.address,
        alive: s.alive,
        partitions: s.assignedPartitions,
        appliedSequence: s.status?.appliedSequence ?? 0n,
        counts: [...counts.values()].sort((a, b) => a.modality - b.modality || a.modelId.localeCompare(b.modelId)),
      };
    }),
    uncovered: Object.entries(status.uncoveredBySite)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([site, u]) => ({ site, partitions: u.partitions })),
    logLastSequence: lastSequence,
  };
}
