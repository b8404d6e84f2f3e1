import { z } from "zod";
import { commonEnv, csv, hostPort, port, siteName, streamCheckEnv } from "@taj/common";

const positiveInt = z.coerce.number().int().min(1);

export const ShardConfig = z
  .object({
    ...commonEnv,
    SHARD_ID: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "lower-case letters, digits, '-'"),
    SITE: siteName,
    GRPC_HOST: z.string().default("127.0.0.1"),
    GRPC_PORT: port.default(0),
    /** host:port put in etcd for coordinators; defaults to GRPC_HOST and the port actually bound. */
    ADVERTISE_ADDRESS: hostPort.optional(),
    DATA_DIR: z.string().min(1),
    /** The site's own NATS server first: the consumer reads the local copy of the log. */
    NATS_URLS: csv.pipe(z.array(z.string().url()).min(1)),
    ETCD_ENDPOINTS: csv.pipe(z.array(z.string().url()).min(1)),
    /** Replicas the template stream must have; the shard verifies (never creates) it, NOT_SERVING while it differs. */
    LOG_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
    ...streamCheckEnv,
    SNAPSHOT_INTERVAL_MS: positiveInt.default(60_000),
    SNAPSHOT_EVERY_N_EVENTS: positiveInt.default(10_000),
    /** Share of the time event and interval snapshots may take (snapshot-policy.ts): bounds their cost at millions of templates. */
    SNAPSHOT_MAX_DUTY_PERCENT: z.coerce.number().int().min(1).max(100).default(10),
    /**
     * A snapshot holds every template it was written with until the next one replaces it: after a
     * delete (or a re-enrolment, or a partition leaving) the next snapshot is taken within this
     * delay, so a purged template leaves the shard's disk within it (plus the write's own time).
     */
    PURGE_SNAPSHOT_DELAY_MS: positiveInt.default(30_000),
    HNSW_CONNECTIVITY: positiveInt.default(16),
    HNSW_EXPANSION_ADD: positiveInt.default(128),
    HNSW_EXPANSION_SEARCH: positiveInt.default(64),
    /**
     * Modalities that build an HNSW graph, for APPROXIMATE searches (comma-separated: face, tattoo,
     * mark). The others keep only their int8 rows (about a third of the memory) and answer every
     * search with the exact scan. Default none, as the gateway's default mode is EXHAUSTIVE.
     */
    HNSW_MODALITIES: z.string().default("").pipe(csv).pipe(z.array(z.enum(["face", "tattoo", "mark"]))),
    /** Threads usearch may use for a batch add inside an index worker (0 = all cores). */
    INDEX_THREADS: z.coerce.number().int().min(0).default(0),
    /** Index workers, each holding some of the shard's partitions and scanning them on its own core (0 = one per core). */
    INDEX_WORKERS: z.coerce.number().int().min(0).max(64).default(0),
    /** How long a partition removed from the assignment is still served after leaving the member entry. */
    RELEASE_GRACE_MS: z.coerce.number().int().min(0).max(60_000).default(2_000),
    LEASE_TTL_S: z.coerce.number().int().min(2).max(60).default(5),
    /** Largest batch of log events handed to the index worker at once: bounds how long a search can wait behind an add. */
    APPLY_BATCH: positiveInt.default(256),
  });
export type ShardConfig = z.infer<typeof ShardConfig>;
