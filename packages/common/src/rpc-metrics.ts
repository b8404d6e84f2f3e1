import * as grpc from "@grpc/grpc-js";
import type { Histogram } from "prom-client";
import { ERROR_CODE_KEY } from "./errors.ts";
import type { CallObserver } from "./transport-errors.ts";

type Status = Parameters<grpc.ServerInterceptingCallInterface["sendStatus"]>[0];

/**
 * The label a call's outcome gets: the taj error code every status of ours carries (NO_FACE,
 * AUDIT_UNAVAILABLE, ...), "OK", or the bare gRPC status name for the rest (CANCELLED). All are
 * from closed sets: never the message, which may name what the call was about.
 */
export function outcomeLabel(status: Status): string {
  const code = status.metadata?.get(ERROR_CODE_KEY)[0];
  if (typeof code === "string" && code.length > 0) return code;
  return status.code === grpc.status.OK ? "OK" : (grpc.status[status.code] ?? "UNKNOWN");
}

/**
 * Observes taj_rpc_duration_seconds{rpc, code} for every call of the named services (method name
 * only, e.g. "Search": the service label says whose). Health checks and reflection are left out:
 * probes and balancers call them constantly, and they would drown the calls that do work.
 */
export function rpcDurationObserver(histogram: Histogram<"rpc" | "code">, serviceNames: readonly string[]): CallObserver {
  const observed = new Set(serviceNames);
  return (path) => {
    const [, service, rpc] = path.split("/");
    if (service === undefined || rpc === undefined || !observed.has(service)) return undefined;
    const started = performance.now();
    return (status) => histogram.observe({ rpc, code: outcomeLabel(status) }, (performance.now() - started) / 1000);
  };
}
