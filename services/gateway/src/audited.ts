import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { v7 as uuidv7 } from "uuid";
import { ErrorCode, type Principal } from "@taj/proto";
import { ALL_MODALITIES, AppError, errorCodeName, malformedRequestError, type CallContext } from "@taj/common";
import type { GatewayDeps } from "./deps.ts";
import { ANONYMOUS, authorize, type GatewayRpc } from "./auth/index.ts";
import { auditUnavailable, type AuditFacts, type AuditedCall } from "./audit/index.ts";

/**
 * The one admission policy of the public API, in this order, before validation or any work: the
 * gate (rate limits, authentication: RATE_LIMITED, UNAUTHENTICATED), then authorize
 * (PERMISSION_DENIED). The principal is set on `call` as soon as it is known, so a call its own
 * rate limit refuses is still audited under its name.
 */
export async function admit(deps: GatewayDeps, rpc: GatewayRpc, call: AuditedCall): Promise<void> {
  call.principal = await deps.gate.admit(call.ctx, (p) => (call.principal = p));
  authorize(call.principal, rpc);
}

/** A fresh audited call (its own event id), anonymous until admit() names its caller. */
export function newCall(ctx: CallContext, facts: AuditFacts, principal: Principal = ANONYMOUS): AuditedCall {
  return { ctx, principal, eventId: uuidv7(), facts };
}

/**
 * Runs `work` and records its audit event, awaited until the audit stream's quorum stored it;
 * only then the answer. "No audit, no answer": when the event cannot be stored the caller gets
 * AUDIT_UNAVAILABLE and nothing of the work's result, whatever the work did.
 */
export async function recorded<Res>(deps: GatewayDeps, rpc: GatewayRpc, call: AuditedCall, work: () => Promise<Res>): Promise<Res> {
  const started = performance.now();
  let response: Res | undefined;
  let failure: AppError | undefined;
  try {
    response = await work();
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
}

/**
 * A unary RPC through admit(), the handler and recorded(). Refused calls are recorded too, with
 * the principal when it is known and ANONYMOUS when not.
 *
 * `describe` takes what the audit keeps of the raw request (cleaned, bounded), so a refused call
 * still says which case or record it was about; handlers add what they learn to `call.facts`.
 */
export function audited<Req, Res>(
  deps: GatewayDeps,
  rpc: GatewayRpc,
  describe: (req: Req) => AuditFacts,
  handler: (req: Req, call: AuditedCall) => Promise<Res>,
) {
  return (req: Req, ctx: CallContext): Promise<Res> => {
    const call = newCall(ctx, describe(req));
    return recorded(deps, rpc, call, async () => {
      await admit(deps, rpc, call);
      // Undecodable bytes reach this wrapper (malformedRequests "handler") so that they, too, are
      // authenticated and audited before being refused; the empty message is never acted on.
      if (ctx.malformedRequest !== undefined) throw malformedRequestError(ctx.malformedRequest);
      return handler(req, call);
    });
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
      ...(facts.settings ? { settings: facts.settings } : {}),
      ...(facts.modelDrop ? { modelDrop: facts.modelDrop } : {}),
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

export function isKnownModality(modality: number): boolean {
  return ALL_MODALITIES.includes(modality);
}
