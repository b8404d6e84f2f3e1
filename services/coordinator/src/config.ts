import { z } from "zod";
import { commonEnv, csv, port, siteName } from "@taj/common";

export const CoordinatorConfig = z.object({
  ...commonEnv,
  SITE: siteName,
  GRPC_HOST: z.string().default("127.0.0.1"),
  GRPC_PORT: port.default(7300),
  ETCD_ENDPOINTS: csv.pipe(z.array(z.url()).min(1)),
  /** Budget of one call to one replica; a failed replica is retried elsewhere within the caller's deadline. */
  SHARD_CALL_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(800),
  /** After a failed call, a replica is avoided for this long while another can serve its partitions. */
  REPLICA_COOLDOWN_MS: z.coerce.number().int().min(0).max(600_000).default(5_000),
  /** Overall budget of a search whose caller set no deadline (a caller's own deadline is honoured instead). */
  SEARCH_TIMEOUT_MS: z.coerce.number().int().min(10).max(120_000).default(3_000),
  /** Hard cap on a search's time, whatever the caller's deadline: no search holds replicas longer. */
  MAX_SEARCH_TIMEOUT_MS: z.coerce.number().int().min(10).max(600_000).default(30_000),
  /** Budget of one ShardStatus call in ClusterStatus. */
  STATUS_CALL_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(500),
  /** Each partition returns max_candidates x this factor before the merge (more helps HNSW recall). */
  PER_PARTITION_K_FACTOR: z.coerce.number().min(1).max(10).default(1),
}).refine((c) => c.SEARCH_TIMEOUT_MS <= c.MAX_SEARCH_TIMEOUT_MS, {
  message: "SEARCH_TIMEOUT_MS must not exceed MAX_SEARCH_TIMEOUT_MS",
  path: ["SEARCH_TIMEOUT_MS"],
});
export type CoordinatorConfig = z.infer<typeof CoordinatorConfig>;
