import { createHash } from "node:crypto";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AppError, decodeAuditEvent, decodeAuditRecord, type StoredAuditMessage } from "@taj/common";
import { ErrorCode, Modality, type AuditEvent, type Candidate } from "@taj/proto";

/** A stored audit event, decoded. */
export interface StoredEvent {
  seq: number;
  storedAtMs: number;
  event: AuditEvent;
  hash: Uint8Array;
}

/**
 * The decodable events of a scan of the stream, in order; a message that is not an audit record is
 * left to `tajctl audit verify`. Returns what the scan returns: where to continue, or undefined at
 * the stream's end. Stopping early (break, return()) ends the scan and its consumer.
 */
export async function* decodedEvents(
  messages: AsyncGenerator<StoredAuditMessage, number | undefined, undefined>,
): AsyncGenerator<StoredEvent, number | undefined, undefined> {
  try {
    for (;;) {
      const next = await messages.next();
      if (next.done) return next.value;
      const m = next.value;
      let stored: StoredEvent | undefined;
      try {
        const record = decodeAuditRecord(m.data);
        stored = { seq: m.seq, storedAtMs: m.storedAtMs, event: decodeAuditEvent(record.event), hash: record.hash };
      } catch {
        // Not ours to answer with; verification reports it.
      }
      if (stored) yield stored;
    }
  } finally {
    await messages.return(undefined);
  }
}

export function eventTimeMs(event: AuditEvent): number {
  return event.at ? timestampDate(event.at).getTime() : 0;
}

export interface AuditFilter {
  principalId: string;
  caseRef: string;
  recordId: string;
  modality: Modality;
  fromMs: number | undefined;
  toMs: number | undefined;
  rpc: string;
}

/** Every candidate a search event returned: its list, or each face's of an every_face search. */
export function searchedCandidates(event: AuditEvent): Candidate[] {
  const search = event.search;
  if (!search) return [];
  return [...search.candidates, ...search.faces.flatMap((f) => f.candidates)];
}

/** Every given filter must hold; an empty one matches everything. */
export function matches(event: AuditEvent, f: AuditFilter): boolean {
  if (f.principalId && event.principal?.id !== f.principalId) return false;
  if (f.caseRef && event.caseRef !== f.caseRef) return false;
  if (f.rpc && event.rpc !== f.rpc) return false;
  if (f.modality !== Modality.UNSPECIFIED && event.modality !== f.modality) return false;
  const at = eventTimeMs(event);
  if (f.fromMs !== undefined && at < f.fromMs) return false;
  if (f.toMs !== undefined && at >= f.toMs) return false;
  if (f.recordId && event.recordId !== f.recordId && !searchedCandidates(event).some((c) => c.id === f.recordId)) return false;
  return true;
}

const TOKEN_VERSION = 1;
const CHECK_BYTES = 8;

function checksum(seq: bigint, filter: AuditFilter): Buffer {
  const canonical = JSON.stringify([seq.toString(), filter.principalId, filter.caseRef, filter.recordId, filter.modality, filter.fromMs ?? null, filter.toMs ?? null, filter.rpc]);
  return createHash("sha256").update("taj-audit-page-token\0").update(canonical).digest().subarray(0, CHECK_BYTES);
}

/**
 * Opaque page token: the next stream sequence to read and a checksum binding it to the query's
 * filters, so a garbled token, or one taken from another query, is refused instead of silently
 * giving another page. (It is not a secret: a caller allowed to query may start anywhere anyway.)
 */
export function encodePageToken(nextSeq: number, filter: AuditFilter): string {
  const seq = BigInt(nextSeq);
  const buf = Buffer.alloc(1 + 8 + CHECK_BYTES);
  buf.writeUInt8(TOKEN_VERSION, 0);
  buf.writeBigUInt64BE(seq, 1);
  checksum(seq, filter).copy(buf, 9);
  return buf.toString("base64url");
}

export function decodePageToken(token: string, filter: AuditFilter): number {
  const bad = () => new AppError(ErrorCode.INVALID_PAGE_TOKEN, "page_token is not one this query returned");
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(token)) throw bad();
  const buf = Buffer.from(token, "base64url");
  if (buf.length !== 1 + 8 + CHECK_BYTES || buf.readUInt8(0) !== TOKEN_VERSION) throw bad();
  const seq = buf.readBigUInt64BE(1);
  if (seq < 1n || seq > BigInt(Number.MAX_SAFE_INTEGER) || !checksum(seq, filter).equals(buf.subarray(9))) throw bad();
  return Number(seq);
}
