import type { CallContext, Logger } from "@taj/common";
import type { Limits } from "./validation.ts";
import type { Coordinators, ExtractorPool } from "./upstreams.ts";
import type { TemplateLogPort } from "./template-log.ts";
import type { AuditTrail } from "./audit.ts";
import type { GatewayMetrics } from "./metrics.ts";

/** What the handlers work with; built once in app.ts, replaced piecewise in tests. */
export interface GatewayDeps {
  limits: Limits;
  extractors: ExtractorPool;
  coordinators: Coordinators;
  log: TemplateLogPort;
  partitionCount: () => number;
  audit: AuditTrail;
  metrics: GatewayMetrics | undefined;
  requestTimeoutMs: number;
  logger: Logger;
}

/** The caller's deadline, or the configured default when it set none. */
export function deadlineOf(ctx: CallContext, deps: Pick<GatewayDeps, "requestTimeoutMs">): number {
  return Number.isFinite(ctx.deadline) ? ctx.deadline : Date.now() + deps.requestTimeoutMs;
}
