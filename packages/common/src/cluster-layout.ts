import { z } from "zod";

/**
 * etcd key layout. Assignment is desired state written by operators (or the bootstrap);
 * membership is live state, each key bound to its shard's lease so it vanishes when the
 * shard dies.
 */
export const ETCD_ROOT = "/taj/v1";
export const PARTITION_COUNT_KEY = `${ETCD_ROOT}/partition-count`;
export const ASSIGNMENT_PREFIX = `${ETCD_ROOT}/assignment/`;
export const MEMBER_PREFIX = `${ETCD_ROOT}/members/`;

export const assignmentKey = (site: string, shardId: string) => `${ASSIGNMENT_PREFIX}${site}/${shardId}`;
export const memberKey = (site: string, shardId: string) => `${MEMBER_PREFIX}${site}/${shardId}`;

export const Assignment = z.object({ partitions: z.array(z.number().int().min(0)) });
export type Assignment = z.infer<typeof Assignment>;

export const Member = z.object({
  address: z.string(),
  /** Partitions this replica has loaded and caught up, so can answer for. */
  partitions: z.array(z.number().int().min(0)),
  startedAt: z.string(),
});
export type Member = z.infer<typeof Member>;

/** Splits "<prefix><site>/<shardId>" into its parts. */
export function parseSiteShardKey(prefix: string, key: string): { site: string; shardId: string } | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const [site, shardId, ...rest] = key.slice(prefix.length).split("/");
  if (!site || !shardId || rest.length > 0) return undefined;
  return { site, shardId };
}
