import { readFileSync } from "node:fs";
import { Gauge, Histogram, type Registry } from "prom-client";
import { ALL_MODALITIES, modalityName } from "@taj/common";
import type { IndexClient } from "./index/client.ts";
import type { PartitionState } from "./partition-state.ts";

export interface ShardMetrics {
  searchDuration: Histogram<"mode">;
  snapshotDuration: Histogram;
}

/** What the log and snapshot gauges read, kept by the replica (replica.ts). */
export interface ReplicaProgress {
  /** The template stream's last sequence as last read (head check, once a second); 0 before. */
  logLastSequence(): number;
  /** Whether the last read of the stream's state answered (false: no JetStream leader or no NATS). */
  logReachable(): boolean;
  /** When the oldest change not in the snapshot on disk was applied (ms since epoch); undefined while the snapshot holds everything. */
  unsnapshottedSinceMs(): number | undefined;
}

/**
 * The shard's own series. Every one carries the process's site and shard labels (startMetrics);
 * `partition` is bounded by the cluster's partition count, `modality` by the proto's enum.
 */
export function shardMetrics(registry: Registry, index: IndexClient, state: PartitionState, progress: ReplicaProgress): ShardMetrics {
  const registers = [registry];
  new Gauge({
    name: "taj_shard_templates",
    help: "Templates held, per modality, model and partition (0, model \"\", for an owned partition that holds none)",
    labelNames: ["modality", "model", "partition"] as const,
    registers,
    async collect() {
      this.reset();
      for (const partition of state.owned()) {
        for (const m of ALL_MODALITIES) this.set({ modality: modalityName(m), model: "", partition: String(partition) }, 0);
      }
      for (const c of await index.counts()) this.set({ modality: c.modality, model: c.modelId, partition: String(c.partition) }, c.templates);
    },
  });
  new Gauge({
    name: "taj_shard_huge_pages_bytes",
    help: "Memory of this process in transparent huge pages (AnonHugePages): 0 means the int8 rows sit in 4 KB pages and scans run slower (GLIBC_TUNABLES, docs/operations.md)",
    registers,
    collect() {
      this.set(anonHugePagesBytes());
    },
  });
  new Gauge({
    name: "taj_shard_applied_sequence",
    help: "Lowest log sequence applied over the partitions owned",
    registers,
    collect() {
      this.set(state.appliedSequence());
    },
  });
  new Gauge({
    name: "taj_shard_log_last_sequence",
    help: "The template log's last sequence as this replica last read it (once a second)",
    registers,
    collect() {
      this.set(progress.logLastSequence());
    },
  });
  new Gauge({
    name: "taj_shard_replication_lag_sequences",
    help: "Per owned partition: the log's last sequence minus the last sequence applied to the partition (0 when current)",
    labelNames: ["partition"] as const,
    registers,
    collect() {
      this.reset();
      const last = progress.logLastSequence();
      for (const p of state.owned()) this.set({ partition: String(p) }, Math.max(0, last - state.currentThrough(p)));
    },
  });
  new Gauge({
    name: "taj_shard_log_reachable",
    help: "1 when the last read of the template stream's state answered, 0 when it failed (NATS or the stream's leader unreachable)",
    registers,
    collect() {
      this.set(progress.logReachable() ? 1 : 0);
    },
  });
  new Gauge({
    name: "taj_shard_partitions_loaded",
    help: "Partitions loaded and advertised",
    registers,
    collect() {
      this.set(state.loaded().length);
    },
  });
  new Gauge({
    name: "taj_shard_partition_loaded",
    help: "Per owned partition: 1 once loaded (caught up, searchable, advertised), 0 while it is still replaying",
    labelNames: ["partition"] as const,
    registers,
    collect() {
      this.reset();
      for (const p of state.owned()) this.set({ partition: String(p) }, state.isLoaded(p) ? 1 : 0);
    },
  });
  new Gauge({
    name: "taj_shard_snapshot_age_seconds",
    help: "Seconds since the snapshot on disk stopped holding every applied change (0 while it is current): what a restart would replay, in time",
    registers,
    collect() {
      const since = progress.unsnapshottedSinceMs();
      this.set(since === undefined ? 0 : Math.max(0, (Date.now() - since) / 1000));
    },
  });
  return {
    searchDuration: new Histogram({
      name: "taj_shard_search_duration_seconds",
      help: "ShardSearch time inside the replica, per mode",
      labelNames: ["mode"] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    snapshotDuration: new Histogram({
      name: "taj_shard_snapshot_duration_seconds",
      help: "Time to write a snapshot",
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
      registers,
    }),
  };
}

/** AnonHugePages of /proc/self/smaps_rollup in bytes; 0 where the file is absent (not Linux). */
export function anonHugePagesBytes(): number {
  try {
    const kb = /AnonHugePages:\s+(\d+) kB/.exec(readFileSync("/proc/self/smaps_rollup", "utf8"))?.[1];
    return kb === undefined ? 0 : Number(kb) * 1024;
  } catch {
    return 0;
  }
}
