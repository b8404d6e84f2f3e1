import { Counter, type Metrics } from "@taj/common";

export interface GatewayMetrics {
  rpcDuration: Metrics["rpcDuration"];
  enrollments: Counter<"modality" | "code">;
  deletions: Counter<"modality" | "existed">;
  searches: Counter<"modality" | "code" | "complete">;
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
  };
}
