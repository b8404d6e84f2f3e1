import { readFileSync, statfsSync } from "node:fs";
import { CLUSTER_GRAPH_LIMIT } from "./cluster/cluster-bench.ts";
import { GALLERY_FILE_BYTES_PER_VALUE, IN_MEMORY_LIMIT } from "./dataset.ts";
import type { EngineName } from "./engine-run.ts";

/** "gallery": the raw f16 file every engine and the cluster feed read (1 KB per template). */
export type Phase = EngineName | "cluster" | "gallery";

interface PerTemplate {
  /** Resident bytes per template (the f32 copies only exist up to IN_MEMORY_LIMIT; above it the gallery is streamed). */
  memory: (size: number) => number;
  /** Bytes per template the phase writes under --work-dir. */
  disk: (size: number) => number;
}

/**
 * From this bench's own runs (bench/results, "RAM B/tpl" and "disk B/tpl"), rounded up. The
 * cluster runs both sites on this machine: two shard sets and the template log's three replicas
 * (half-precision records, 1 160 B each measured at 100 k). With the face graph (up to
 * CLUSTER_GRAPH_LIMIT) a shard holds 1 650 B and snapshots 1 190 B per template (measured at 1 M
 * before issue 10); exhaustive only, rows and ids: ~600 B resident (bench/results/index; 700
 * allowed) and 521 B of snapshot (measured at 100 k; 600 allowed). Snapshots count twice: a
 * shard writes the new one before it removes the old.
 */
const PLAN: Record<Phase, PerTemplate> = {
  gallery: { memory: () => 0, disk: () => 512 * GALLERY_FILE_BYTES_PER_VALUE },
  "exact-f32": { memory: (size) => (size <= IN_MEMORY_LIMIT ? 2_048 : 0), disk: () => 0 },
  "usearch-hnsw-i8": { memory: () => 850, disk: () => 670 },
  "usearch-exhaustive-i8": { memory: () => 520, disk: () => 0 },
  "hnswlib-node": { memory: () => 2_300, disk: () => 2_200 },
  lancedb: { memory: () => 1_200, disk: () => 2_800 },
  cluster: {
    memory: (size) => 2 * (size <= CLUSTER_GRAPH_LIMIT ? 1_650 : 700),
    disk: (size) => 3 * 1_200 + 2 * 2 * (size <= CLUSTER_GRAPH_LIMIT ? 1_190 : 600),
  },
};
/** Room left for NATS, etcd, the services' heaps and the page cache the log and snapshots use. */
const HEADROOM = 0.85;

export interface Room {
  memoryBytes: number;
  diskBytes: number;
}

export function bytesNeeded(phase: Phase, size: number): Room {
  return { memoryBytes: PLAN[phase].memory(size) * size, diskBytes: PLAN[phase].disk(size) * size };
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
