import type { ShardHit } from "@taj/proto";

export interface MergedCandidate {
  id: string;
  similarity: number;
  rank: number;
}

/**
 * Merges per-replica hits into the answer. An id lives in one partition, but while a partition
 * moves two replicas may both answer for it, so duplicates keep their best similarity.
 * Ties are ordered by id so the same data always gives the same list.
 */
export function mergeHits(
  hits: Iterable<Pick<ShardHit, "id" | "similarity">>,
  threshold: number,
  maxCandidates: number,
): MergedCandidate[] {
  const best = new Map<string, number>();
  for (const hit of hits) {
    if (!(hit.similarity >= threshold)) continue;
    const seen = best.get(hit.id);
    if (seen === undefined || hit.similarity > seen) best.set(hit.id, hit.similarity);
  }
  return [...best]
    .sort(([idA, a], [idB, b]) => b - a || (idA < idB ? -1 : idA > idB ? 1 : 0))
    .slice(0, maxCandidates)
    .map(([id, similarity], i) => ({ id, similarity, rank: i + 1 }));
}
