import { Counter, Histogram, type Metrics } from "@taj/common";

export interface GatewayMetrics {
  rpcDuration: Metrics["rpcDuration"];
  enrollments: Counter<"modality" | "code">;
  deletions: Counter<"modality" | "existed">;
  searches: Counter<"modality" | "code" | "complete">;
  auditAppendDuration: Histogram<"outcome">;
  auditWriteFailures: Counter<"rpc">;
}

export function gatewayMetrics(metrics: Metrics): GatewayMetrics {
  const registers = [metrics.registry];
  return {
    rpcDuration: metrics.rpcDuration,
    enrollments: new Counter({
      name: "taj_gateway_enrollments_total",
      help: "Enroll calls by modality and outcome code",
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
    auditWriteFailures: new Counter({
      name: "taj_gateway_audit_write_failures_total",
      help: "Calls refused with AUDIT_UNAVAILABLE because their audit event could not be stored, by RPC",
      labelNames: ["rpc"] as const,
      registers,
    }),
  };
}
