import { readFileSync, statfsSync } from "node:fs";
import { CLUSTER_GRAPH_LIMIT } from "./cluster/cluster-bench.ts";
import { IN_MEMORY_LIMIT } from "./dataset.ts";
import type { EngineName } from "./engine-run.ts";

/** "gallery": the raw f32 file every engine and the cluster feed read (2 KB per template). */
export type Phase = EngineName | "cluster" | "gallery";

interface PerTemplate {
  /** Resident bytes per template (the f32 copies only exist up to IN_MEMORY_LIMIT; above it the gallery is streamed). */
  memory: (size: number) => number;
  /** Bytes per template the phase writes under --work-dir. */
  disk: number;
}

/**
 * From this bench's own 100k and 1M runs (bench/results, "RAM B/tpl" and "disk B/tpl"), rounded up.
 * The cluster runs both sites on this machine: two shard sets (1 650 B resident at 1M, 1 190 B of
 * snapshots each) and the template log's three replicas (2 190 B each), plus the bench's own f32
 * gallery when it holds one.
 */
const PLAN: Record<Phase, PerTemplate> = {
  gallery: { memory: () => 0, disk: 512 * 4 },
  "exact-f32": { memory: (size) => (size <= IN_MEMORY_LIMIT ? 2_048 : 0), disk: 0 },
  "usearch-hnsw-i8": { memory: () => 850, disk: 670 },
  "usearch-exhaustive-i8": { memory: () => 520, disk: 0 },
  "hnswlib-node": { memory: () => 2_300, disk: 2_200 },
  lancedb: { memory: () => 1_200, disk: 2_800 },
  // With the face graph up to CLUSTER_GRAPH_LIMIT (1 650 B per site measured at 1 M before issue 10),
  // exhaustive only above it (rows + ids, bench/results/index: ~600 B; 700 allowed).
  cluster: { memory: (size) => 2 * (size <= CLUSTER_GRAPH_LIMIT ? 1_650 : 700) + (size <= IN_MEMORY_LIMIT ? 2_048 : 0), disk: 3 * 2_190 + 2 * 1_190 },
};
/** Room left for NATS, etcd, the services' heaps and the page cache the log and snapshots use. */
const HEADROOM = 0.85;

export interface Room {
  memoryBytes: number;
  diskBytes: number;
}

export function bytesNeeded(phase: Phase, size: number): Room {
  return { memoryBytes: PLAN[phase].memory(size) * size, diskBytes: PLAN[phase].disk * size };
}

/** The kernel's estimate of memory available without swapping (MemAvailable). */
export function availableBytes(meminfo = readFileSync("/proc/meminfo", "utf8")): number {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo);
  if (!m) throw new Error("MemAvailable missing from /proc/meminfo");
  return Number(m[1]) * 1024;
}

export function roomAt(workDir: string): Room {
  const fs = statfsSync(workDir);
  return { memoryBytes: availableBytes(), diskBytes: fs.bavail * fs.bsize };
}

/**
 * Why a phase would not fit in memory or on disk, or undefined when it does. A phase that does not
 * fit is skipped and reported as such rather than started: on a 24 GiB machine the OOM killer (or
 * a full disk under NATS) would otherwise end an hours-long run half way.
 */
export function wontFit(phase: Phase, size: number, room: Room): string | undefined {
  const need = bytesNeeded(phase, size);
  const gib = (b: number) => (b / 2 ** 30).toFixed(1);
  const short = [
    ...(need.memoryBytes > room.memoryBytes * HEADROOM ? [`~${gib(need.memoryBytes)} GiB resident, ${gib(room.memoryBytes)} GiB available`] : []),
    ...(need.diskBytes > room.diskBytes * HEADROOM ? [`~${gib(need.diskBytes)} GiB on disk, ${gib(room.diskBytes)} GiB free`] : []),
  ];
  return short.length ? `skipped: needs ${short.join("; ")} (keeps ${Math.round((1 - HEADROOM) * 100)} % free)` : undefined;
}
