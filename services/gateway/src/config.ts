import { z } from "zod";
import { SearchMode } from "@taj/proto";
import { GATEWAY_ID_PATTERN, MAX_CANDIDATES, commonEnv, csv, hostPort, port, siteName, streamCheckEnv } from "@taj/common";
import { authEnv, checkAuthEnv } from "./auth/config.ts";

const addresses = csv.pipe(z.array(hostPort).min(1));
const threshold = z.coerce.number().min(-1).max(1);
/** "exhaustive" (the default, see DEFAULT_SEARCH_MODE_FACE) or "approximate". */
const mode = z.enum(["approximate", "exhaustive"]).default("exhaustive").transform((m) => (m === "exhaustive" ? SearchMode.EXHAUSTIVE : SearchMode.APPROXIMATE));
const ms = z.coerce.number().int().min(10).max(600_000);

export const GatewayConfig = z
  .object({
    ...commonEnv,
    SITE: siteName,
    GRPC_HOST: z.string().default("127.0.0.1"),
    GRPC_PORT: port.default(7000),
    /** Extractors of this site to spread calls over (round-robin); a call that finds one unavailable tries the next. */
    EXTRACTOR_ADDRESSES: addresses,
    /** Extractors of other sites, used only when no local one answers. */
    REMOTE_EXTRACTOR_ADDRESSES: csv.pipe(z.array(hostPort)).default([]),
    /**
     * When an enrollment or deletion is acknowledged. "quorum" (the only one implemented): once the
     * template stream's quorum (2 of 3 replicas: site A, site B, witness) stored it; a site cut off
     * from the quorum refuses writes with UNAVAILABLE. See docs/guarantees.md for the alternative.
     */
    WRITE_ACK_POLICY: z.enum(["quorum"]).default("quorum"),
    /** Coordinators, local site first: the next is tried only when one cannot be reached. */
    COORDINATOR_ADDRESSES: addresses,
    /**
     * An extractor or coordinator that was unreachable, refused or timed out is tried last (after
     * the others of its group) for this long, so a silent one does not cost every call its timeout.
     */
    UPSTREAM_COOLDOWN_MS: z.coerce.number().int().min(0).max(600_000).default(2_000),
    /** NATS servers, site-local first (tried in this order, never shuffled). */
    NATS_URLS: csv.pipe(z.array(z.string().regex(/^nats:\/\/[^\s]+$/, "expected nats://host:port")).min(1)),
    /**
     * Replicas the template and audit streams must have (the bootstrap, `tajctl init`, creates
     * them; the gateway only verifies and stays NOT_SERVING while they differ).
     */
    LOG_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
    ...streamCheckEnv,
    ETCD_ENDPOINTS: csv.pipe(z.array(z.url()).min(1)),
    /** Administrator defaults, used when a search gives no threshold; to be tuned per model. */
    DEFAULT_SIMILARITY_THRESHOLD_FACE: threshold.default(0.4),
    // Raw tattoo/mark templates (no projection active): FAR ~1 % on the generated sets
    // (bench/results/marks-eval). A projection puts similarities on another scale: set these
    // again when activating one (docs/operations.md, template projections).
    DEFAULT_SIMILARITY_THRESHOLD_TATTOO: threshold.default(0.97),
    DEFAULT_SIMILARITY_THRESHOLD_MARK: threshold.default(0.97),
    // The search mode when a request gives none, resolved here (beside the threshold) so the answer
    // and the audit event name the mode that ran; coordinators and shards apply no default.
    // Exhaustive by default: the bench measured HNSW (expansion_search 64) at 65 % recall@10 on a
    // 1 M partition, while the int8 scan keeps 99 % at ~22 ms per million on one core, which fits
    // the one-second budget at TAJ's few thousand searches a day. Approximate stays a per-request
    // or per-modality choice for when the volume grows.
    DEFAULT_SEARCH_MODE_FACE: mode,
    DEFAULT_SEARCH_MODE_TATTOO: mode,
    DEFAULT_SEARCH_MODE_MARK: mode,
    DEFAULT_MAX_CANDIDATES: z.coerce.number().int().min(1).default(20),
    /** At most MAX_CANDIDATES (packages/common's cluster-constants.ts): what coordinators and shards accept. */
    MAX_CANDIDATES_LIMIT: z.coerce.number().int().min(1).max(MAX_CANDIDATES).default(200),
    /**
     * Images above this are refused before any work (IMAGE_TOO_LARGE). The gRPC receive limit is
     * derived from it (maxRequestBytes), so the transport never names a limit of its own.
     */
    MAX_IMAGE_BYTES: z.coerce.number().int().min(1).max(30 * 1024 * 1024).default(15 * 1024 * 1024),
    /** Deadline of a call whose caller set none. */
    REQUEST_TIMEOUT_MS: ms.default(5_000),
    /**
     * This process's audit chain (subject taj.audit.<GATEWAY_ID>): one id per gateway process, so
     * each chain has one writer; "gateway-<SITE>" when unset. Letters, digits, "_" and "-" only.
     */
    GATEWAY_ID: z.string().regex(GATEWAY_ID_PATTERN, "GATEWAY_ID is 1-64 letters, digits, _ or -").optional(),
    /** How long one audit append may take (retries included) before the call fails AUDIT_UNAVAILABLE. */
    AUDIT_APPEND_TIMEOUT_MS: ms.default(2_000),
    /** Audit messages one QueryAudit page reads at most before answering with a page token. */
    AUDIT_QUERY_SCAN_LIMIT: z.coerce.number().int().min(100).max(1_000_000).default(10_000),
    /** Audit messages RecordFeedback reads from the search's time on to find the search. */
    AUDIT_FEEDBACK_SCAN_LIMIT: z.coerce.number().int().min(100).max(10_000_000).default(200_000),
    /** Audit messages one FeedbackSummary may read; a longer period is refused (narrow from/to). */
    AUDIT_SUMMARY_SCAN_LIMIT: z.coerce.number().int().min(100).max(100_000_000).default(2_000_000),
    /** Extractions in flight per extractor; beyond that calls wait, at most EXTRACTOR_MAX_QUEUED of them. */
    EXTRACTOR_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(1_000).default(4),
    /** Calls waiting for a free extractor; beyond that a call is refused OVERLOADED at once (back-pressure, no unbounded queue). */
    EXTRACTOR_MAX_QUEUED: z.coerce.number().int().min(0).max(100_000).default(32),
    /**
     * Items of one EnrollStream worked on at once; while that many are, the gateway stops reading
     * the stream (HTTP/2 flow control holds the client back). Keep it within what the extractor
     * pool takes (EXTRACTOR_MAX_IN_FLIGHT per extractor + EXTRACTOR_MAX_QUEUED), or items beyond
     * it are answered OVERLOADED.
     */
    ENROLL_STREAM_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(1_000).default(16),
    /** Every search must name its investigation (case_ref); "false" makes it optional. */
    CASE_REF_REQUIRED: z.enum(["true", "false"]).default("true").transform((v) => v === "true"),
    ...authEnv,
  })
  .refine((c) => c.DEFAULT_MAX_CANDIDATES <= c.MAX_CANDIDATES_LIMIT, {
    message: "DEFAULT_MAX_CANDIDATES must not exceed MAX_CANDIDATES_LIMIT",
    path: ["DEFAULT_MAX_CANDIDATES"],
  })
  .superRefine(checkAuthEnv)
  .transform((c) => ({ ...c, GATEWAY_ID: c.GATEWAY_ID ?? `gateway-${c.SITE}` }));
export type GatewayConfig = z.infer<typeof GatewayConfig>;

/**
 * Room for a request's other fields beside its image: an id (64 chars), a case_ref (128), a box,
 * enums and tags take well under 1 KiB; the rest is headroom for fields added later.
 */
export const REQUEST_ENVELOPE_BYTES = 64 * 1024;

/**
 * The gateway's gRPC receive limit. Every request whose image is at most MAX_IMAGE_BYTES fits,
 * and so does any image up to REQUEST_ENVELOPE_BYTES above it: the handler answers those
 * IMAGE_TOO_LARGE. Larger requests are refused by grpc-js from the length prefix, before being
 * read, with the same code and message (see startGrpcServer's oversizedRequest).
 */
export function maxRequestBytes(config: Pick<GatewayConfig, "MAX_IMAGE_BYTES">): number {
  return config.MAX_IMAGE_BYTES + REQUEST_ENVELOPE_BYTES;
}
