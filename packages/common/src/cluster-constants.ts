/**
 * The cluster's fixed numbers, in one place: every service (and tajctl, devcluster) reads them
 * from here, so a gateway, a coordinator and a shard never disagree on what is allowed. What
 * operators tune is configuration (each service's config.ts); these are the bounds around it.
 * The etcd key layout is cluster-layout.ts; the streams are stream-settings.ts.
 */

/** Partitions per modality when `/taj/v1/partition-count` is absent (bootstrap writes it). */
export const DEFAULT_PARTITION_COUNT = 16;
/** Largest partition count accepted from etcd: a bad value is refused, not routed to. */
export const MAX_PARTITION_COUNT = 65_536;

/**
 * Largest `max_candidates` any search may ask (the gateway's MAX_CANDIDATES_LIMIT is configured
 * at most this), and so the largest per-partition k a coordinator sends and a shard answers:
 * a partition never needs to return more than the whole answer.
 */
export const MAX_CANDIDATES = 1_000;
export const MAX_SHARD_K = MAX_CANDIDATES;

/**
 * An every_face search extracts and searches at most this many faces (the most confident): a
 * crowd still would otherwise cost one embedding and one cluster-wide search per face it holds.
 */
export const MAX_FACES_PER_SEARCH = 32;

/** Longest template any modality's model may produce; a shard refuses longer ones (input bound, not a model fact). */
export const MAX_TEMPLATE_DIMENSIONS = 4_096;
/** Length of the built-in face model's template (faceplugin fr_feature.onnx: 512 floats). */
export const FACE_TEMPLATE_DIMENSIONS = 512;

/**
 * etcd's default `--max-request-bytes` (1.5 MiB): a larger value cannot be written in one put. A
 * Projection is one value, so this bounds input x output dimensions (768 x 512 in half precision
 * is ~790 KB).
 */
export const ETCD_MAX_REQUEST_BYTES = 1_572_864;

/**
 * The partition count stored in etcd: undefined when it is not a usable count. An absent key
 * (null) is the default count.
 */
export function parsePartitionCount(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined) return DEFAULT_PARTITION_COUNT;
  const n = Number(value.trim());
  return Number.isInteger(n) && n > 0 && n <= MAX_PARTITION_COUNT ? n : undefined;
}

/**
 * GLIBC_TUNABLES for shard processes: glibc then asks the kernel for transparent huge pages
 * (madvise) on its large allocations, which hold the int8 rows. With THP in "madvise" mode (Debian's
 * default) this is the only way a Node process gets them; 2 MB pages read the rows faster than
 * 4 KB pages (bench/results/index). Harmless where THP is off: the kernel then ignores the advice.
 */
export const HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb=1";
