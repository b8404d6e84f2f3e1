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

/**
 * Projections (projection-store.ts): one key per (modality, version) holding the Projection
 * protobuf, and one per modality naming the active version. tajctl writes both; shards only read
 * and watch.
 */
export const PROJECTION_PREFIX = `${ETCD_ROOT}/projections/`;
export const ACTIVE_PROJECTION_PREFIX = `${ETCD_ROOT}/projection-active/`;
/** Zero-padded so etcd's key order is version order. */
export const projectionKey = (modality: string, version: number) => `${PROJECTION_PREFIX}${modality}/${String(version).padStart(10, "0")}`;
export const activeProjectionKey = (modality: string) => `${ACTIVE_PROJECTION_PREFIX}${modality}`;

/**
 * Per-modality defaults (settings.proto SettingsVersion, protobuf JSON): the current version, and
 * every version (zero-padded revision, so key order is revision order) in the history. Gateways
 * own both: they write them in one transaction (UpdateSettings, or the initial values) and watch
 * the current ones.
 */
export const SETTINGS_PREFIX = `${ETCD_ROOT}/settings/`;
export const SETTINGS_HISTORY_PREFIX = `${ETCD_ROOT}/settings-history/`;
export const settingsKey = (modality: string) => `${SETTINGS_PREFIX}${modality}`;
export const settingsHistoryKey = (modality: string, revision: bigint) => `${SETTINGS_HISTORY_PREFIX}${modality}/${String(revision).padStart(12, "0")}`;

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
