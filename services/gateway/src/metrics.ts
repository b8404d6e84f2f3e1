import { ALL_MODALITIES, Counter, Gauge, Histogram, modalityName, type Metrics } from "@taj/common";
import type { Modality } from "@taj/proto";
import { RPC_ROLES, type GatewayRpc } from "./auth/index.ts";

/** What the extractor gauges read: the gateway's pool of extractors (upstreams.ts). */
export interface ExtractorLoad {
  readonly queued: number;
  /** Calls in flight, local extractors first, then the other site's. */
  readonly inFlightByGroup: readonly number[];
}

/** RPC durations are observed by the gRPC server itself (common's startGrpcServer), not here. */
export interface GatewayMetrics {
  enrollments: Counter<"modality" | "code">;
  enrollStreamItems: Counter<"modality" | "code">;
  deletions: Counter<"modality" | "existed">;
  searches: Counter<"modality" | "code" | "complete">;
  auditAppendDuration: Histogram<"outcome">;
  auditWriteFailures: Counter<"rpc">;
}

/** Every RPC of the public API, for series that must exist (at 0) before the first failure. */
const GATEWAY_RPCS = Object.keys(RPC_ROLES) as GatewayRpc[];

/** The settings revision this gateway applies per modality; undefined until loaded. */
export type SettingsRevision = (modality: Modality) => bigint | undefined;

export function gatewayMetrics(metrics: Metrics, extractors: ExtractorLoad, settingsRevision: SettingsRevision): GatewayMetrics {
  const registers = [metrics.registry];
  // Every gateway of both sites should show the same revision within seconds of a change; one
  // that lags has lost its etcd watch and applies older defaults.
  new Gauge({
    name: "taj_gateway_settings_revision",
    help: "Revision of the per-modality defaults (UpdateSettings) this gateway applies; 0 until loaded from etcd",
    labelNames: ["modality"] as const,
    registers,
    collect() {
      for (const m of ALL_MODALITIES) this.set({ modality: modalityName(m) }, Number(settingsRevision(m) ?? 0n));
    },
  });
  // The gateway's pool queue (at most EXTRACTOR_MAX_IN_FLIGHT per extractor address,
  // EXTRACTOR_MAX_QUEUED waiting, then OVERLOADED); each extractor also has its own
  // (taj_extractor_queue_depth), which matters behind one Service name.
  new Gauge({
    name: "taj_gateway_extractor_queue_depth",
    help: "Extraction calls waiting for a free extractor slot (EXTRACTOR_MAX_QUEUED bounds it)",
    registers,
    collect() {
      this.set(extractors.queued);
    },
  });
  new Gauge({
    name: "taj_gateway_extractor_in_flight",
    help: "Extraction calls this gateway has in flight, to its own site's extractors (local) or the other site's (remote)",
    labelNames: ["upstream"] as const,
    registers,
    collect() {
      const [local = 0, remote = 0] = extractors.inFlightByGroup;
      this.set({ upstream: "local" }, local);
      this.set({ upstream: "remote" }, remote);
    },
  });
  const auditWriteFailures = new Counter({
    name: "taj_gateway_audit_write_failures_total",
    help: "Calls refused with AUDIT_UNAVAILABLE because their audit event could not be stored, by RPC",
    labelNames: ["rpc"] as const,
    registers,
  });
  // At 0 from the start: a rate() alert on a series that appears only with the first failure
  // would see no increase at that first failure.
  for (const rpc of GATEWAY_RPCS) auditWriteFailures.inc({ rpc }, 0);
  return {
    enrollments: new Counter({
      name: "taj_gateway_enrollments_total",
      help: "Enroll calls by modality and outcome code",
      labelNames: ["modality", "code"] as const,
      registers,
    }),
    enrollStreamItems: new Counter({
      name: "taj_gateway_enroll_stream_items_total",
      help: "EnrollStream items by modality and result code (OK or the item's error code)",
      labelNames: ["modality", "code"] as const,
      registers,
    }),
    deletions: new Counter({
      name: "taj_gateway_deletions_total",
      help: "Per-modality deletes, by whether a template existed",
      labelNames: ["modality", "existed"] as const,
      registers,
    }),
    searches: new Counter({
      name: "taj_gateway_searches_total",
      help: "Search calls by modality, outcome code and completeness",
      labelNames: ["modality", "code", "complete"] as const,
      registers,
    }),
    auditAppendDuration: new Histogram({
      name: "taj_gateway_audit_append_duration_seconds",
      help: "Time to store one audit event (JetStream PubAck from the stream's quorum), retries included",
      labelNames: ["outcome"] as const,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    auditWriteFailures,
  };
}
