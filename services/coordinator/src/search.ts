import { ErrorCode, type Modality, type SearchMode, type ShardHit } from "@taj/proto";
import { AppError, MAX_SHARD_K, encodeTemplateF32, errorCodeName, REPLICAS, shouldTryAnother, type Logger, type UpstreamHealth } from "@taj/common";
import type { ClusterTable } from "./cluster-table.ts";
import { allPartitions, planAvoiding } from "./routing.ts";
import { mergeHits, type MergedCandidate } from "./merge.ts";
import type { ShardClients } from "./shard-clients.ts";
import type { CoordinatorMetrics } from "./metrics.ts";

export interface SearchQuery {
  modality: Modality;
  template: ArrayLike<number>;
  threshold: number;
  maxCandidates: number;
  mode: SearchMode;
  allowPartial: boolean;
  /** SMT body-location codes the shards keep hits to; absent or empty = no filter. */
  bodyLocations?: readonly string[];
  /** The probe's model: shards compare only templates of it ("" = each shard's only model of the modality). */
  modelId?: string;
}

export interface SearchSettings {
  localSite: string;
  shardCallTimeoutMs: number;
  perPartitionKFactor: number;
}

export interface SearchDeps {
  table: () => ClusterTable;
  clients: ShardClients;
  health: UpstreamHealth;
  settings: SearchSettings;
  metrics?: CoordinatorMetrics;
  logger: Logger;
}

export interface SearchOutcome {
  candidates: MergedCandidate[];
  unsearched: number[];
  partitionCount: number;
}

/**
 * Fans a search out to one replica per partition, retrying a failed replica's partitions on
 * other replicas (the other site when the local one is down) until every partition is answered,
 * no replica is left, or the deadline passes. Never returns a partial list unless asked to, and
 * then says which partitions are missing.
 */
export async function coordinatedSearch(deps: SearchDeps, query: SearchQuery, deadline: number): Promise<SearchOutcome> {
  const started = performance.now();
  const table = deps.table();
  const { localSite, shardCallTimeoutMs, perPartitionKFactor } = deps.settings;
  // The factor adds HNSW recall; a shard answers at most MAX_SHARD_K, which is already the whole answer's bound.
  const k = Math.min(MAX_SHARD_K, Math.max(1, Math.ceil(query.maxCandidates * perPartitionKFactor)));
  const hits: ShardHit[] = [];
  const failed = new Set<string>();
  let pending = allPartitions(table.partitionCount);
  const unsearched: number[] = [];
  // Encoded once for every shard call (and every retry).
  const templateF32 = encodeTemplateF32(query.template);

  while (pending.length > 0 && Date.now() < deadline) {
    const plan = planAvoiding(table, pending, localSite, failed, deps.health.cooling());
    unsearched.push(...plan.uncovered);
    pending = [];
    const callDeadline = Math.min(deadline, Date.now() + shardCallTimeoutMs);
    const results = await Promise.all(
      [...plan.calls].map(async ([address, { member, partitions }]) => {
        try {
          const response = await deps.clients.get(address).shardSearch(
            { modality: query.modality, partitions, templateF32, k, mode: query.mode, bodyLocations: [...(query.bodyLocations ?? [])], modelId: query.modelId ?? "" },
            { deadline: callDeadline },
          );
          deps.health.ok(address);
          const asked = new Set(partitions);
          // A replica answers only for what it was asked: anything else could duplicate a partition.
          return { ok: true as const, hits: response.hits.filter((h) => asked.has(h.partition)) };
        } catch (err) {
          const error = AppError.from(err);
          // The common retry policy (REPLICAS): a fault of the request ends the search with its own code.
          if (!shouldTryAnother(error, REPLICAS)) throw error;
          failed.add(address);
          deps.health.failed(address);
          deps.metrics?.replicaFailures.inc({ site: member.site, code: errorCodeName(error.code) });
          deps.logger.warn(
            { shard: `${member.site}/${member.shardId}`, address, code: errorCodeName(error.code), partitions },
            "replica failed; retrying its partitions elsewhere",
          );
          return { ok: false as const, partitions };
        }
      }),
    );
    for (const result of results) {
      if (result.ok) hits.push(...result.hits);
      else pending.push(...result.partitions);
    }
  }
  unsearched.push(...pending);
  unsearched.sort((a, b) => a - b);

  const seconds = (performance.now() - started) / 1000;
  if (unsearched.length > 0) {
    deps.metrics?.unsearchedPartitions.inc(unsearched.length);
    if (!query.allowPartial) {
      deps.metrics?.fanOut.observe({ outcome: "unavailable" }, seconds);
      throw new AppError(ErrorCode.UNAVAILABLE, `partitions ${unsearched.join(",")} could not be searched`);
    }
  }
  deps.metrics?.fanOut.observe({ outcome: unsearched.length > 0 ? "partial" : "complete" }, seconds);
  return {
    candidates: mergeHits(hits, query.threshold, query.maxCandidates),
    unsearched,
    partitionCount: table.partitionCount,
  };
}
