import { create } from "@bufbuild/protobuf";
import { ShardReportSchema, UncoveredPartitionsSchema, type ClusterStatusResponse, type ShardReport, type ShardStatusResponse } from "@taj/proto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ClusterStatusResponseSchema } from "@taj/proto";
import { uncoveredBySite, sitesOf, type ClusterTable } from "./cluster-table.ts";
import type { ShardClients } from "./shard-clients.ts";

/**
 * Every shard assigned or alive, with its own status when it answers within the timeout
 * (absent otherwise: a report must not wait on the sick shard it is reporting).
 */
export async function clusterStatus(
  table: ClusterTable,
  clients: ShardClients,
  timeoutMs: number,
  deadline: number,
): Promise<MessageInitShape<typeof ClusterStatusResponseSchema>> {
  const keys = new Set([...table.assignments.keys(), ...table.members.keys()]);
  const reports: ShardReport[] = await Promise.all(
    [...keys].sort().map(async (key) => {
      const assignment = table.assignments.get(key);
      const member = table.members.get(key);
      const ref = (assignment ?? member)!;
      let status: ShardStatusResponse | undefined;
      if (member) {
        status = await clients
          .get(member.address)
          .shardStatus({}, { deadline: Math.min(deadline, Date.now() + timeoutMs) })
          .catch(() => undefined);
      }
      return create(ShardReportSchema, {
        shardId: ref.shardId,
        site: ref.site,
        address: member?.address ?? "",
        alive: member !== undefined,
        assignedPartitions: [...(assignment?.partitions ?? member?.partitions ?? [])],
        ...(status ? { status } : {}),
      });
    }),
  );
  const uncovered: ClusterStatusResponse["uncoveredBySite"] = {};
  for (const [site, partitions] of uncoveredBySite(table, sitesOf(table))) {
    uncovered[site] = create(UncoveredPartitionsSchema, { partitions });
  }
  return { partitionCount: table.partitionCount, shards: reports, uncoveredBySite: uncovered };
}
