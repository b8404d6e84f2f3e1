import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from "nats";
import { z } from "zod";
import { AUDIT_STREAM, AUDIT_SUBJECT_ROOT, TEMPLATE_STREAM, TEMPLATE_SUBJECT_ROOT } from "./log-layout.ts";

/**
 * The one definition of the two JetStream streams: what the cluster bootstrap (devcluster,
 * `tajctl init`) creates, and what every service that uses a stream verifies at start. Services
 * never create or change a stream; a stream that is missing or differs keeps them NOT_SERVING.
 */

/**
 * Messages kept per subject in the template log. The writers (the gateway) keep one: each write
 * securely erases the previous message of its subject (services/gateway/src/handlers/replace.ts).
 * The limit is 2, not 1, because a message the limit drops is removed without erasure and its
 * bytes stay in the message block until the block is compacted: with 2, a write lands on a
 * subject holding one message and the limit never drops a template (docs/data-protection.md).
 */
export const TEMPLATE_MSGS_PER_SUBJECT = 2;

/** Default retention of the audit trail: a little over a year. */
export const AUDIT_MAX_AGE_DAYS_DEFAULT = 400;

/** 2 min, in ns: a retried publish with the same msgID is stored once (gateway writes, audit appends). */
export const DUPLICATE_WINDOW_NS = 120_000_000_000;

const NS_PER_DAY = 86_400n * 1_000_000_000n;

/** One setting a service relies on, and why: the log line names it when it differs. */
export interface StreamRequirement {
  field: keyof StreamConfig;
  expected: string | number | boolean | string[];
  /** "atLeast": a larger number is fine (e.g. a longer duplicate window). */
  compare?: "equal" | "atLeast";
  why: string;
}

export interface StreamSpec {
  name: string;
  /** Verified by the services, set by the bootstrap. */
  required: StreamRequirement[];
  /** Set when the bootstrap creates the stream; afterwards the operator's to change (not verified). */
  initial: Partial<StreamConfig>;
}

export interface TemplateStreamOptions {
  /** Copies JetStream keeps; 3 across site A, site B and the witness in the two-site cluster. */
  replicas: number;
}

export interface AuditStreamOptions {
  /** Copies JetStream keeps; 3 across site A, site B and the witness, like the template log. */
  replicas: number;
}

export interface AuditRetention {
  /** Events older than this are dropped by JetStream; verification cannot see past it. */
  maxAgeDays: number;
  /** Cap on the stream's size, oldest dropped first; 0 = no cap beyond the age. */
  maxBytes: number;
}

const common = (replicas: number): StreamRequirement[] => [
  { field: "num_replicas", expected: replicas, why: "copies of the log across the sites (LOG_REPLICAS)" },
  { field: "storage", expected: StorageType.File, why: "the log must survive a restart" },
  { field: "retention", expected: RetentionPolicy.Limits, why: "messages stay after they are read" },
  { field: "duplicate_window", expected: DUPLICATE_WINDOW_NS, compare: "atLeast", why: "a retried publish is stored once" },
];

/**
 * The template log: one subject per (modality, partition, id), the last message of each kept, so
 * the stream is both the change feed and the current set of templates (any replica can be rebuilt
 * from it) and a tombstone stays so a replay never resurrects an id. Nothing may drop a template
 * by age, count or size.
 */
export function templateStreamSpec(options: TemplateStreamOptions): StreamSpec {
  return {
    name: TEMPLATE_STREAM,
    required: [
      { field: "subjects", expected: [`${TEMPLATE_SUBJECT_ROOT}.>`], why: "the gateway publishes and the shards read there" },
      { field: "max_msgs_per_subject", expected: TEMPLATE_MSGS_PER_SUBJECT, why: "the current template plus the one being replaced" },
      ...common(options.replicas),
      { field: "max_age", expected: 0, why: "templates never expire" },
      { field: "max_msgs", expected: -1, why: "no template is dropped by count" },
      { field: "max_bytes", expected: -1, why: "no template is dropped by size" },
    ],
    initial: { discard: DiscardPolicy.Old, allow_direct: true },
  };
}

/**
 * The audit trail: every message kept (no per-subject limit; it is a history of hash chains),
 * dropped only by age (or size, when capped); the retention is the operator's decision after
 * creation (`nats stream edit`), so it is set by the bootstrap and not verified.
 */
export function auditStreamSpec(options: AuditStreamOptions, retention: AuditRetention = { maxAgeDays: AUDIT_MAX_AGE_DAYS_DEFAULT, maxBytes: 0 }): StreamSpec {
  return {
    name: AUDIT_STREAM,
    required: [
      { field: "subjects", expected: [`${AUDIT_SUBJECT_ROOT}.>`], why: "each gateway appends to taj.audit.<gateway_id>" },
      { field: "max_msgs_per_subject", expected: -1, why: "a chain keeps every link" },
      ...common(options.replicas),
    ],
    initial: {
      discard: DiscardPolicy.Old,
      allow_direct: true,
      max_age: Number(BigInt(retention.maxAgeDays) * NS_PER_DAY),
      max_bytes: retention.maxBytes > 0 ? retention.maxBytes : -1,
    },
  };
}

/** The configuration the bootstrap creates a stream with. */
export function streamConfigOf(spec: StreamSpec): Partial<StreamConfig> & { name: string } {
  const config: Partial<StreamConfig> & { name: string } = { name: spec.name, ...spec.initial };
  for (const r of spec.required) Object.assign(config, { [r.field]: r.expected });
  return config;
}

const show = (v: unknown) =>
  Array.isArray(v) ? `[${v.join(", ")}]` : v === undefined ? "unset" : typeof v === "object" ? JSON.stringify(v) : String(v as string | number | boolean);
const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join("\n") === [...b].sort().join("\n");

/** Each required setting the stream's configuration does not meet, as "<field> is X, expected Y (why)". */
export function streamDifferences(spec: StreamSpec, config: Partial<StreamConfig>): string[] {
  const problems: string[] = [];
  for (const r of spec.required) {
    const actual: unknown = config[r.field];
    const ok = Array.isArray(r.expected)
      ? Array.isArray(actual) && sameSet(actual.map(String), r.expected)
      : r.compare === "atLeast" && typeof r.expected === "number"
        ? typeof actual === "number" && actual >= r.expected
        : actual === r.expected;
    if (!ok) problems.push(`${r.field} is ${show(actual)}, expected ${r.compare === "atLeast" ? "at least " : ""}${show(r.expected)} (${r.why})`);
  }
  return problems;
}

/** Env of a service that verifies streams: how often it checks again while (and after) they differ. */
export const streamCheckEnv = {
  STREAM_CHECK_INTERVAL_MS: z.coerce.number().int().min(50).max(600_000).default(5_000),
};

export interface ClusterStreamsOptions {
  replicas: number;
  auditRetention?: AuditRetention;
}

/** Both streams of a cluster, as the bootstrap creates them (the same replicas: site A, site B, witness). */
export function clusterStreams(options: ClusterStreamsOptions): StreamSpec[] {
  return [templateStreamSpec(options), auditStreamSpec(options, options.auditRetention)];
}
