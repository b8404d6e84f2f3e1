import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { validate as isUuid, version as uuidVersion } from "uuid";
import {
  ErrorCode, Modality, Verdict,
  type AuditEvent, type FeedbackSummaryRequest, type FeedbackSummaryResponseSchema, type RecordFeedbackRequest, type RecordFeedbackResponseSchema,
} from "@taj/proto";
import { AppError, validateId } from "@taj/common";
import type { GatewayDeps } from "../deps.ts";
import { invalid, validateModality } from "../validation.ts";
import { auditUnreadable, decodedEvents, eventTimeMs, searchedCandidates, summarizeFeedback, type AuditedCall } from "../audit/index.ts";
import { STORE_MARGIN_MS, timeOf } from "./audit.ts";

/** A search is stored at most its deadline (REQUEST_TIMEOUT_MS max 600 s) after its id was made. */
const SEARCH_WINDOW_MS = 600_000 + STORE_MARGIN_MS;


/** Milliseconds since epoch in a UUIDv7 (its first 48 bits): where its search sits in the stream. */
export function uuidV7Ms(id: string): number {
  return Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16);
}

function validateFeedback(req: RecordFeedbackRequest): { searchId: string; candidateId: string; verdict: Verdict } {
  if (!isUuid(req.searchId) || uuidVersion(req.searchId) !== 7) throw invalid("search_id must be the search_id of a SearchResponse");
  const candidateId = validateId(req.candidateId);
  if (![Verdict.CONFIRMED, Verdict.REJECTED, Verdict.UNSURE].includes(req.verdict)) throw invalid("verdict must be CONFIRMED, REJECTED or UNSURE");
  return { searchId: req.searchId.toLowerCase(), candidateId, verdict: req.verdict };
}

/** The Search event with this id: read from the id's own time, over a short window of the stream. */
async function findSearch(deps: GatewayDeps, searchId: string): Promise<AuditEvent | undefined> {
  const madeAt = uuidV7Ms(searchId);
  const scan = deps.audit.scan({ startTimeMs: madeAt - STORE_MARGIN_MS, maxMessages: deps.auditLimits.feedbackScanLimit, stopAfterMs: madeAt + SEARCH_WINDOW_MS });
  for await (const s of decodedEvents(scan)) {
    if (s.event.eventId === searchId && s.event.rpc === "Search") return s.event;
  }
  return undefined;
}

/**
 * Records an investigator's verdict on one candidate of their own search. Someone else's search
 * is answered exactly like an unknown one (SEARCH_NOT_FOUND), so ids reveal nothing.
 */
export async function recordFeedback(deps: GatewayDeps, req: RecordFeedbackRequest, call: AuditedCall): Promise<MessageInitShape<typeof RecordFeedbackResponseSchema>> {
  const input = validateFeedback(req);
  call.facts.recordId = input.candidateId;
  const searched = await findSearch(deps, input.searchId).catch((err: unknown) => {
    throw auditUnreadable(err);
  });
  if (!searched || searched.principal?.id !== call.principal.id) {
    throw new AppError(ErrorCode.SEARCH_NOT_FOUND, "no search of yours has this search_id");
  }
  // An every_face search: the rank within the face that returned it (the first such face).
  const candidate = searchedCandidates(searched).find((c) => c.id === input.candidateId);
  if (!candidate) throw new AppError(ErrorCode.CANDIDATE_NOT_RETURNED, "this candidate was not returned by that search");
  call.facts.caseRef = searched.caseRef;
  call.facts.modality = searched.modality;
  call.facts.feedback = {
    searchId: input.searchId,
    candidateId: input.candidateId,
    verdict: input.verdict,
    rank: candidate.rank,
    similarity: candidate.similarity,
    searchAt: searched.at ?? timestampFromMs(uuidV7Ms(input.searchId)),
  };
  return { recordedAt: timestampFromMs(Date.now()) };
}

/** Confirmed-match rates over the verdicts recorded in [from, to); reads only that part of the stream. */
export async function feedbackSummary(deps: GatewayDeps, req: FeedbackSummaryRequest, call: AuditedCall): Promise<MessageInitShape<typeof FeedbackSummaryResponseSchema>> {
  const modality = req.modality === Modality.UNSPECIFIED ? Modality.UNSPECIFIED : validateModality(req.modality);
  const fromMs = timeOf(req.from, "from");
  const toMs = timeOf(req.to, "to");
  if (fromMs !== undefined && toMs !== undefined && toMs <= fromMs) throw invalid("to must be after from");
  call.facts.modality = modality;
  const feedback: AuditEvent[] = [];
  const position = fromMs !== undefined ? { startTimeMs: fromMs - STORE_MARGIN_MS } : { startSeq: 1 };
  const scan = decodedEvents(deps.audit.scan({ ...position, maxMessages: deps.auditLimits.summaryScanLimit, ...(toMs !== undefined ? { stopAfterMs: toMs + STORE_MARGIN_MS } : {}) }));
  let unread: number | undefined;
  try {
    for (;;) {
      const next = await scan.next();
      if (next.done) {
        unread = next.value;
        break;
      }
      const s = next.value;
      const at = eventTimeMs(s.event);
      if (s.event.rpc !== "RecordFeedback" || (fromMs !== undefined && at < fromMs) || (toMs !== undefined && at >= toMs)) continue;
      feedback.push(s.event);
    }
  } catch (err) {
    throw auditUnreadable(err);
  } finally {
    await scan.return(undefined);
  }
  if (unread !== undefined) throw invalid("the period holds too many audit events for one summary: narrow from/to");
  return summarizeFeedback(feedback, modality);
}
