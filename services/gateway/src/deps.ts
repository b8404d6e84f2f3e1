import type { CallContext, Logger } from "@taj/common";
import type { Principal } from "@taj/proto";
import type { Limits } from "./validation.ts";
import type { Coordinators, ExtractorPool } from "./upstreams.ts";
import type { TemplateLogPort } from "./template-log.ts";
import type { AuditPort } from "./audit/index.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { SettingsStore } from "./settings/store.ts";

/**
 * The first step of every call, before validation or any work (services/gateway/src/auth
 * CallGate): rate limits and authentication; throws RATE_LIMITED or UNAUTHENTICATED. authorize()
 * from auth/ comes next.
 */
export interface CallerGate {
  /** `onAuthenticated` is told the principal as soon as it is known, so a call its rate limit refuses is audited under its name. */
  admit(ctx: CallContext, onAuthenticated?: (principal: Principal) => void): Promise<Principal>;
}

export interface AuditLimits {
  /** Stream messages one QueryAudit page may read before it answers with what it has and a token. */
  queryScanLimit: number;
  /** Stream messages RecordFeedback reads, from the search's time on, to find the search. */
  feedbackScanLimit: number;
  /** Stream messages FeedbackSummary may read; a longer period is refused (narrow from/to). */
  summaryScanLimit: number;
}

/** What the handlers work with; built once in app.ts, replaced piecewise in tests. */
export interface GatewayDeps {
  limits: Limits;
  extractors: ExtractorPool;
  coordinators: Coordinators;
  log: TemplateLogPort;
  partitionCount: () => number;
  /** The administrator's per-modality defaults (GetSettings, UpdateSettings, SettingsHistory); `limits.settings` reads them. */
  settings: Pick<SettingsStore, "version" | "update" | "history">;
  gate: CallerGate;
  audit: AuditPort;
  auditLimits: AuditLimits;
  metrics: GatewayMetrics | undefined;
  requestTimeoutMs: number;
  /** ENROLL_STREAM_MAX_IN_FLIGHT: items of one EnrollStream worked on at once. */
  enrollStreamMaxInFlight: number;
  logger: Logger;
}

/** The caller's deadline, or the configured default when it set none. */
export function deadlineOf(ctx: CallContext, deps: Pick<GatewayDeps, "requestTimeoutMs">): number {
  return Number.isFinite(ctx.deadline) ? ctx.deadline : Date.now() + deps.requestTimeoutMs;
}
