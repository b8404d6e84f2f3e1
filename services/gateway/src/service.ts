import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { v7 as uuidv7 } from "uuid";
import {
  ErrorCode,
  type DeleteRequest, type EnrollRequest, type FeedbackSummaryRequest, type GetRequest, type MatchingService, type Principal,
  type QueryAuditRequest, type RecordFeedbackRequest, type SearchRequest,
} from "@taj/proto";
import { ALL_MODALITIES, AppError, errorCodeName, malformedRequestError, modalityName, type CallContext, type ServiceImpl } from "@taj/common";
import type { GatewayDeps } from "./deps.ts";
import { ANONYMOUS, authorize, type GatewayRpc } from "./auth/index.ts";
import { auditText, auditUnavailable, type AuditFacts, type AuditedCall } from "./audit/index.ts";
import { enroll } from "./handlers/enroll.ts";
import { search } from "./handlers/search.ts";
import { deleteRecord, getRecord } from "./handlers/records.ts";
import { stats } from "./handlers/stats.ts";
import { queryAudit } from "./handlers/audit.ts";
import { feedbackSummary, recordFeedback } from "./handlers/feedback.ts";

type Impl = ServiceImpl<typeof MatchingService extends { method: infer M } ? M : never>;

/**
 * Every RPC goes through here, in this order, before validation or any work: the gate (rate
 * limits, authentication: RATE_LIMITED, UNAUTHENTICATED), authorize (PERMISSION_DENIED), the
 * handler, then the call's audit event, awaited until the audit stream's quorum stored it; only
 * then the answer. "No audit, no answer": when the event cannot be stored the caller gets
 * AUDIT_UNAVAILABLE and nothing of the handler's result (no candidates), whatever the handler did.
 * Refused calls are recorded too, with the principal when it is known (also when its own rate
 * limit refused it) and ANONYMOUS when not.
 *
 * `describe` takes what the audit keeps of the raw request (cleaned, bounded), so a refused call
 * still says which case or record it was about; handlers add what they learn to `call.facts`.
 */
function audited<Req, Res>(
  deps: GatewayDeps,
  rpc: GatewayRpc,
  describe: (req: Req) => AuditFacts,
  handler: (req: Req, call: AuditedCall) => Promise<Res>,
) {
  return async (req: Req, ctx: CallContext): Promise<Res> => {
    const started = performance.now();
    const call: AuditedCall = { ctx, principal: ANONYMOUS, eventId: uuidv7(), facts: describe(req) };
    let response: Res | undefined;
    let failure: AppError | undefined;
    try {
      call.principal = await deps.gate.admit(ctx, (p) => (call.principal = p));
      authorize(call.principal, rpc);
      // Undecodable bytes reach this wrapper (malformedRequests "handler") so that they, too, are
      // authenticated and audited before being refused; the empty message is never acted on.
      if (ctx.malformedRequest !== undefined) throw malformedRequestError(ctx.malformedRequest);
      response = await handler(req, call);
    } catch (err) {
      failure = AppError.from(err);
    }
    try {
      await appendEvent(deps, rpc, call, failure, Math.round(performance.now() - started));
    } catch (err) {
      deps.metrics?.auditWriteFailures.inc({ rpc });
      throw err instanceof AppError && err.code === ErrorCode.AUDIT_UNAVAILABLE ? err : auditUnavailable(err);
    }
    if (failure) throw failure;
    return response as Res;
  };
}

async function appendEvent(deps: GatewayDeps, rpc: GatewayRpc, call: AuditedCall, failure: AppError | undefined, durationMs: number): Promise<void> {
  const { facts } = call;
  const stopTimer = deps.metrics?.auditAppendDuration.startTimer();
  try {
    await deps.audit.append({
      eventId: call.eventId,
      at: timestampFromMs(Date.now()),
      principal: principalForAudit(call.principal),
      rpc,
      outcome: failure ? errorCodeName(failure.code) : "OK",
      caseRef: facts.caseRef ?? "",
      ...(facts.modality !== undefined && isKnownModality(facts.modality) ? { modality: facts.modality } : {}),
      recordId: facts.recordId ?? "",
      ...(facts.search ? { search: facts.search } : {}),
      ...(facts.feedback ? { feedback: facts.feedback } : {}),
      durationMs,
      logSequence: facts.logSequence ?? 0n,
    });
    stopTimer?.({ outcome: "stored" });
  } catch (err) {
    stopTimer?.({ outcome: "failed" });
    throw err;
  }
}

/** Id, kind and roles only: the principal message may grow fields the audit should not copy. */
function principalForAudit(p: Principal) {
  return { id: p.id, kind: p.kind, roles: [...p.roles] };
}

function isKnownModality(modality: number): boolean {
  return ALL_MODALITIES.includes(modality);
}

function modalityLabel(modality: number): string {
  return isKnownModality(modality) ? modalityName(modality) : "invalid";
}

const aboutRecord = (req: { modality: number; id: string }): AuditFacts => ({ modality: req.modality, recordId: auditText(req.id) });

export function matchingService(deps: GatewayDeps): Impl {
  return {
    enroll: audited(deps, "Enroll", (req: EnrollRequest) => aboutRecord(req), async (req, call) => {
      try {
        const res = await enroll(deps, req, call.ctx);
        call.facts.logSequence = res.logSequence ?? 0n;
        deps.metrics?.enrollments.inc({ modality: modalityLabel(req.modality), code: "OK" });
        return res;
      } catch (err) {
        deps.metrics?.enrollments.inc({ modality: modalityLabel(req.modality), code: errorCodeName(AppError.from(err).code) });
        throw err;
      }
    }),
    search: audited(deps, "Search", (req: SearchRequest) => ({ caseRef: auditText(req.caseRef), modality: req.modality }), (req, call) => search(deps, req, call)),
    delete: audited(deps, "Delete", (req: DeleteRequest) => aboutRecord(req), async (req, call) => {
      const res = await deleteRecord(deps, req, call.ctx);
      call.facts.logSequence = res.logSequence ?? 0n;
      return res;
    }),
    get: audited(deps, "Get", (req: GetRequest) => aboutRecord(req), async (req, call) => {
      const res = await getRecord(deps, req);
      call.facts.logSequence = res.logSequence ?? 0n;
      return res;
    }),
    stats: audited(deps, "Stats", () => ({}), (_req, call) => stats(deps, call.ctx)),
    queryAudit: audited(deps, "QueryAudit", (req: QueryAuditRequest) => ({ caseRef: auditText(req.caseRef), recordId: auditText(req.recordId), modality: req.modality }), (req, call) => queryAudit(deps, req, call)),
    recordFeedback: audited(deps, "RecordFeedback", (req: RecordFeedbackRequest) => ({ recordId: auditText(req.candidateId) }), (req, call) => recordFeedback(deps, req, call)),
    feedbackSummary: audited(deps, "FeedbackSummary", (req: FeedbackSummaryRequest) => ({ modality: req.modality }), (req, call) => feedbackSummary(deps, req, call)),
  };
}
