import { readFileSync } from "node:fs";
import { IN_MEMORY_LIMIT } from "./dataset.ts";
import type { EngineName } from "./engine-run.ts";

/**
 * Resident bytes per template each phase needs, from this bench's own 100k and 1M runs
 * (bench/results, "RAM B/tpl"), rounded up. The f32 copies only exist up to IN_MEMORY_LIMIT;
 * above it the gallery is streamed.
 */
const ENGINE_BYTES_PER_TEMPLATE: Record<EngineName, (size: number) => number> = {
  "exact-f32": (size) => (size <= IN_MEMORY_LIMIT ? 2_048 : 0),
  "usearch-hnsw-i8": () => 800,
  "usearch-exhaustive-i8": () => 520,
  "hnswlib-node": () => 2_300,
  lancedb: () => 1_200,
};
/** Both sites' shards on this one machine (1 140 B per site), plus the bench's f32 gallery when it holds one. */
const clusterBytesPerTemplate = (size: number) => 2 * 1_140 + (size <= IN_MEMORY_LIMIT ? 2_048 : 0);
/** Room left for NATS, etcd, the services' heaps and the page cache the log and snapshots use. */
const HEADROOM = 0.85;

export type Phase = EngineName | "cluster";

export function bytesNeeded(phase: Phase, size: number): number {
  const perTemplate = phase === "cluster" ? clusterBytesPerTemplate(size) : ENGINE_BYTES_PER_TEMPLATE[phase](size);
  return perTemplate * size;
}

/** The kernel's estimate of memory available without swapping (MemAvailable). */
export function availableBytes(meminfo = readFileSync("/proc/meminfo", "utf8")): number {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo);
  if (!m) throw new Error("MemAvailable missing from /proc/meminfo");
  return Number(m[1]) * 1024;
}

/**
 * Why a phase would not fit in memory, or undefined when it does. A phase that does not fit is
 * skipped and reported as such rather than started: on a 24 GiB machine the OOM killer would
 * otherwise end an hours-long run (or another process) half way.
 */
export function wontFit(phase: Phase, size: number, available: number): string | undefined {
  const need = bytesNeeded(phase, size);
  if (need <= available * HEADROOM) return undefined;
  const gib = (b: number) => (b / 2 ** 30).toFixed(1);
  return `skipped: needs ~${gib(need)} GiB resident, ${gib(available)} GiB available (keeps ${Math.round((1 - HEADROOM) * 100)} % free)`;
}
