import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { AuditEntrySchema, Modality, type AuditEntry, type QueryAuditRequest, type QueryAuditResponseSchema } from "@taj/proto";
import { validateId } from "@taj/common";
import type { GatewayDeps } from "../deps.ts";
import { RPC_ROLES } from "../auth/index.ts";
import { invalid, validateModality } from "../validation.ts";
import { auditUnreadable, decodePageToken, decodedEvents, encodePageToken, matches, type AuditFilter, type AuditedCall } from "../audit/index.ts";

export const PAGE_SIZE_DEFAULT = 100;
export const PAGE_SIZE_MAX = 1_000;
/**
 * How far an event's own time (`at`, the gateway's clock when the call ended) may lie before the
 * time the stream stored it (the NATS server's clock): clock skew plus an append's retries.
 * Reads start this much before `from` and stop this much after `to`.
 */
export const STORE_MARGIN_MS = 5 * 60_000;
const TEXT_MAX = 256;

function text(value: string, name: string): string {
  if (value.length > TEXT_MAX || /\p{C}/u.test(value)) throw invalid(`${name} must be at most ${TEXT_MAX} printable characters`);
  return value;
}

export function timeOf(ts: Timestamp | undefined, name: string): number | undefined {
  if (!ts) return undefined;
  const ms = timestampDate(ts).getTime();
  if (!Number.isFinite(ms) || ts.nanos < 0 || ts.nanos > 999_999_999) throw invalid(`${name} is not a valid time`);
  return ms;
}

export function validateQuery(req: QueryAuditRequest): { filter: AuditFilter; pageSize: number } {
  const pageSize = req.pageSize === 0 ? PAGE_SIZE_DEFAULT : req.pageSize;
  if (pageSize > PAGE_SIZE_MAX) throw invalid(`page_size must be between 1 and ${PAGE_SIZE_MAX}`);
  if (req.rpc !== "" && !Object.hasOwn(RPC_ROLES, req.rpc)) throw invalid(`rpc must be one of ${Object.keys(RPC_ROLES).join(", ")}`);
  const filter: AuditFilter = {
    principalId: text(req.principalId, "principal_id"),
    caseRef: text(req.caseRef, "case_ref"),
    recordId: req.recordId === "" ? "" : validateId(req.recordId),
    modality: req.modality === Modality.UNSPECIFIED ? Modality.UNSPECIFIED : validateModality(req.modality),
    fromMs: timeOf(req.from, "from"),
    toMs: timeOf(req.to, "to"),
    rpc: req.rpc,
  };
  if (filter.fromMs !== undefined && filter.toMs !== undefined && filter.toMs <= filter.fromMs) throw invalid("to must be after from");
  return { filter, pageSize };
}

/**
 * Audit events matching every filter, oldest first. A page reads at most the configured number
 * of stream messages: a query whose matches are sparse answers with what it found and a token,
 * rather than reading the whole stream in one call. A time-bounded query starts reading at
 * `from` (the stream's own time index) instead of the stream's beginning.
 */
export async function queryAudit(deps: GatewayDeps, req: QueryAuditRequest, call: AuditedCall): Promise<MessageInitShape<typeof QueryAuditResponseSchema>> {
  const { filter, pageSize } = validateQuery(req);
  call.facts.caseRef = filter.caseRef;
  call.facts.recordId = filter.recordId;
  call.facts.modality = filter.modality;
  const position: { startSeq?: number; startTimeMs?: number } = req.pageToken
    ? { startSeq: decodePageToken(req.pageToken, filter) }
    : filter.fromMs !== undefined ? { startTimeMs: filter.fromMs - STORE_MARGIN_MS } : { startSeq: 1 };
  const stopAfterMs = filter.toMs === undefined ? undefined : filter.toMs + STORE_MARGIN_MS;
  const entries: AuditEntry[] = [];
  const scan = decodedEvents(deps.audit.scan({ ...position, maxMessages: deps.auditLimits.queryScanLimit, ...(stopAfterMs !== undefined ? { stopAfterMs } : {}) }));
  try {
    for (;;) {
      const next = await scan.next();
      // The scan limit or the stream's end: a token to go on from, or none.
      if (next.done) return { entries, nextPageToken: next.value !== undefined ? encodePageToken(next.value, filter) : "" };
      const s = next.value;
      if (!matches(s.event, filter)) continue;
      entries.push(create(AuditEntrySchema, { event: s.event, streamSequence: BigInt(s.seq), hash: s.hash }));
      if (entries.length === pageSize) {
        const after = await scan.next();
        const more = !after.done || after.value !== undefined;
        return { entries, nextPageToken: more ? encodePageToken(s.seq + 1, filter) : "" };
      }
    }
  } catch (err) {
    throw auditUnreadable(err);
  } finally {
    await scan.return(undefined);
  }
}
