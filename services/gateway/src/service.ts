import {
  type DeleteRequest, type EnrollRequest, type EnrollStreamRequest, type FeedbackSummaryRequest, type GetRequest, type MatchingService,
  type DropModelTemplatesRequest, type QueryAuditRequest, type RecordFeedbackRequest, type SearchRequest, type SettingsHistoryRequest, type UpdateSettingsRequest,
} from "@taj/proto";
import { AppError, errorCodeName, modalityName, type CallContext, type ServiceImpl } from "@taj/common";
import type { GatewayDeps } from "./deps.ts";
import { auditText, type AuditFacts, type AuditedCall } from "./audit/index.ts";
import { admit, audited, isKnownModality, newCall, recorded } from "./audited.ts";
import { enroll } from "./handlers/enroll.ts";
import { enrollStream } from "./handlers/enroll-stream.ts";
import { search } from "./handlers/search.ts";
import { deleteRecord, getRecord } from "./handlers/records.ts";
import { stats } from "./handlers/stats.ts";
import { queryAudit } from "./handlers/audit.ts";
import { feedbackSummary, recordFeedback } from "./handlers/feedback.ts";
import { getSettings, settingsHistory, updateSettings } from "./handlers/settings.ts";
import { dropModelTemplates } from "./handlers/model-drop.ts";

type Impl = ServiceImpl<typeof MatchingService extends { method: infer M } ? M : never>;

function modalityLabel(modality: number): string {
  return isKnownModality(modality) ? modalityName(modality) : "invalid";
}

// Every RPC goes through audited.ts (admit: gate, then authorize; recorded: the awaited audit
// event, "no audit, no answer") before and after its handler; EnrollStream does per item.

const aboutRecord = (req: { modality: number; id: string }): AuditFacts => ({ modality: req.modality, recordId: auditText(req.id) });

/** Enroll's work once admitted, for the unary call and for each item of a stream alike. */
async function enrollAdmitted(deps: GatewayDeps, req: EnrollRequest, call: AuditedCall) {
  const res = await enroll(deps, req, call.ctx);
  call.facts.logSequence = res.logSequence ?? 0n;
  return res;
}

/**
 * EnrollStream: the caller goes through admit() once, when the stream opens (a refusal is audited
 * and ends the stream); then each item is Enroll's work under that principal, with its own audit
 * event (rpc EnrollStream, the item's record id and log sequence) through recorded(), so an item
 * whose event cannot be stored answers AUDIT_UNAVAILABLE like an Enroll would.
 */
function enrollStreamRpc(deps: GatewayDeps) {
  return async function* (requests: AsyncIterable<EnrollStreamRequest>, ctx: CallContext) {
    const opening = newCall(ctx, {});
    await recorded(deps, "EnrollStream", opening, () => admit(deps, "EnrollStream", opening));
    const items = enrollStream(requests, {
      maxInFlight: deps.enrollStreamMaxInFlight,
      enrollItem: (req) => {
        const call = newCall(ctx, aboutRecord(req), opening.principal);
        return recorded(deps, "EnrollStream", call, () => enrollAdmitted(deps, req, call));
      },
      onResult: (req, code) =>
        deps.metrics?.enrollStreamItems.inc({ modality: req ? modalityLabel(req.modality) : "invalid", code: code === "OK" ? code : errorCodeName(code) }),
    });
    try {
      yield* items;
    } catch (err) {
      // The request stream broke (malformed bytes, cancellation): recorded as the stream's end.
      const ending = newCall(ctx, {}, opening.principal);
      await recorded(deps, "EnrollStream", ending, () => Promise.reject(AppError.from(err)));
    }
  };
}

export function matchingService(deps: GatewayDeps): Impl {
  return {
    enroll: audited(deps, "Enroll", (req: EnrollRequest) => aboutRecord(req), async (req, call) => {
      try {
        const res = await enrollAdmitted(deps, req, call);
        deps.metrics?.enrollments.inc({ modality: modalityLabel(req.modality), code: "OK" });
        return res;
      } catch (err) {
        deps.metrics?.enrollments.inc({ modality: modalityLabel(req.modality), code: errorCodeName(AppError.from(err).code) });
        throw err;
      }
    }),
    enrollStream: enrollStreamRpc(deps),
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
    getSettings: audited(deps, "GetSettings", () => ({}), () => Promise.resolve(getSettings(deps))),
    updateSettings: audited(deps, "UpdateSettings", (req: UpdateSettingsRequest) => (req.settings ? { modality: req.settings.modality } : {}), (req, call) => updateSettings(deps, req, call)),
    dropModelTemplates: audited(deps, "DropModelTemplates", (req: DropModelTemplatesRequest) => ({ modality: req.modality }), (req, call) => dropModelTemplates(deps, req, call)),
    settingsHistory: audited(deps, "SettingsHistory", (req: SettingsHistoryRequest) => ({ modality: req.modality }), (req) => settingsHistory(deps, req)),
  };
}
