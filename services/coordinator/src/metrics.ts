import { Counter, Histogram, type Metrics } from "@taj/common";

export interface CoordinatorMetrics {
  fanOut: Histogram<"outcome">;
  replicaFailures: Counter<"site" | "code">;
  unsearchedPartitions: Counter;
}

export function coordinatorMetrics(metrics: Metrics): CoordinatorMetrics {
  const registers = [metrics.registry];
  return {
    fanOut: new Histogram({
      name: "taj_coordinator_fanout_seconds",
      help: "Time from the first shard call to the merged answer",
      labelNames: ["outcome"] as const,
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    replicaFailures: new Counter({
      name: "taj_coordinator_replica_failures_total",
      help: "Shard calls that failed and were retried on another replica if one was left",
      labelNames: ["site", "code"] as const,
      registers,
    }),
    unsearchedPartitions: new Counter({
      name: "taj_coordinator_unsearched_partitions_total",
      help: "Partitions that no replica could search, summed over searches",
      registers,
    }),
  };
}
