import { Gauge, Histogram, type Registry } from "prom-client";
import type { IndexClient } from "./index/client.ts";
import type { PartitionState } from "./partition-state.ts";

export interface ShardMetrics {
  searchDuration: Histogram<"mode">;
  replayLag: Gauge;
  snapshotDuration: Histogram;
}

export function shardMetrics(registry: Registry, index: IndexClient, state: PartitionState): ShardMetrics {
  new Gauge({
    name: "taj_shard_templates",
    help: "Templates held, per modality",
    labelNames: ["modality"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const totals = new Map<string, number>();
      for (const c of await index.counts()) totals.set(c.modality, (totals.get(c.modality) ?? 0) + c.templates);
      for (const [modality, n] of totals) this.set({ modality }, n);
    },
  });
  new Gauge({
    name: "taj_shard_applied_sequence",
    help: "Lowest log sequence applied over the partitions owned",
    registers: [registry],
    collect() {
      this.set(state.appliedSequence());
    },
  });
  new Gauge({
    name: "taj_shard_partitions_loaded",
    help: "Partitions loaded and advertised",
    registers: [registry],
    collect() {
      this.set(state.loaded().length);
    },
  });
  return {
    searchDuration: new Histogram({
      name: "taj_shard_search_duration_seconds",
      help: "ShardSearch time inside the replica, per mode",
      labelNames: ["mode"] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    replayLag: new Gauge({
      name: "taj_shard_replay_lag_events",
      help: "Log events not yet delivered to this replica (stream last sequence - applied)",
      registers: [registry],
    }),
    snapshotDuration: new Histogram({
      name: "taj_shard_snapshot_duration_seconds",
      help: "Time to write a snapshot",
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
      registers: [registry],
    }),
  };
}
