import { Counter, Gauge, Histogram, type Metrics } from "@taj/common";
import { sitesOf, uncoveredBySite, type ClusterTable } from "./cluster-table.ts";

export interface CoordinatorMetrics {
  fanOut: Histogram<"outcome">;
  replicaFailures: Counter<"site" | "code">;
  unsearchedPartitions: Counter;
}

/** The routing table in use (etcd's view: assignments and live members), and whether it was read yet. */
export interface RoutingView {
  readonly table: ClusterTable;
  readonly loaded: boolean;
}

/**
 * The layout gauges say what this coordinator would route around now, not what a search last met.
 * Until the layout is first read (the coordinator is not ready then) they report no site and 0
 * (prom-client's value of an unlabelled gauge), not the 16 uncovered partitions of an empty table.
 */
export function coordinatorMetrics(metrics: Metrics, view: RoutingView): CoordinatorMetrics {
  const registers = [metrics.registry];
  const table = (): ClusterTable | undefined => (view.loaded ? view.table : undefined);
  new Gauge({
    name: "taj_coordinator_partitions",
    help: "Partition count of the cluster layout",
    registers,
    collect() {
      this.reset();
      const t = table();
      if (t) this.set(t.partitionCount);
    },
  });
  // replica_site, not site: the process's own `site` label says which coordinator is looking.
  new Gauge({
    name: "taj_coordinator_uncovered_partitions",
    help: "Partitions with no live replica at a site (searches there go to the other site for them)",
    labelNames: ["replica_site"] as const,
    registers,
    collect() {
      this.reset();
      const t = table();
      if (!t) return;
      for (const [site, partitions] of uncoveredBySite(t, sitesOf(t))) this.set({ replica_site: site }, partitions.length);
    },
  });
  new Gauge({
    name: "taj_coordinator_unsearchable_partitions",
    help: "Partitions with no live replica at any site: every search answers incomplete",
    registers,
    collect() {
      this.reset();
      const t = table();
      if (!t) return;
      const bySite = [...uncoveredBySite(t, sitesOf(t)).values()].map((ps) => new Set(ps));
      let none = 0;
      for (let p = 0; p < t.partitionCount; p++) if (bySite.length === 0 || bySite.every((s) => s.has(p))) none++;
      this.set(none);
    },
  });
  new Gauge({
    name: "taj_coordinator_live_replicas",
    help: "Shard replicas with a live membership entry, per site",
    labelNames: ["replica_site"] as const,
    registers,
    collect() {
      this.reset();
      const t = table();
      if (!t) return;
      for (const site of sitesOf(t)) this.set({ replica_site: site }, 0);
      for (const m of t.members.values()) this.inc({ replica_site: m.site });
    },
  });
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
