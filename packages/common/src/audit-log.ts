import { createHash } from "node:crypto";
import {
  DiscardPolicy, RetentionPolicy, StorageType,
  type JetStreamClient, type JetStreamManager, type OrderedConsumerOptions, type StreamInfo,
} from "nats";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AuditEventSchema, AuditRecordSchema, type AuditEvent, type AuditRecord } from "@taj/proto";
import { AUDIT_STREAM, AUDIT_SUBJECT_ROOT } from "./log-layout.ts";
import { isNoResponders, isStreamNotFound } from "./jetstream-errors.ts";

export interface AuditStreamOptions {
  /** Copies JetStream keeps; 3 across site A, site B and the witness, like the template log. */
  replicas: number;
  /** Events older than this are dropped by JetStream (retention); verification cannot see past it. */
  maxAgeDays: number;
  /** Cap on the stream's size, oldest dropped first; 0 = no cap beyond the age. */
  maxBytes: number;
}

/** Default retention of the audit trail: a little over a year (the bootstrap and a gateway creating the stream). */
export const AUDIT_MAX_AGE_DAYS_DEFAULT = 400;

const NS_PER_DAY = 86_400n * 1_000_000_000n;

/**
 * Creates the audit stream if it does not exist. Unlike the template log it keeps every message
 * (no per-subject limit): it is a history, dropped only by age (or size, when capped). An existing
 * stream is returned as it is: changing retention is an operator's decision (`nats stream edit`).
 */
export async function ensureAuditStream(jsm: JetStreamManager, options: AuditStreamOptions): Promise<StreamInfo> {
  try {
    return await jsm.streams.info(AUDIT_STREAM);
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
  }
  return jsm.streams.add({
    name: AUDIT_STREAM,
    subjects: [`${AUDIT_SUBJECT_ROOT}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: options.replicas,
    max_age: Number(BigInt(options.maxAgeDays) * NS_PER_DAY),
    max_bytes: options.maxBytes > 0 ? options.maxBytes : -1,
    duplicate_window: 120_000_000_000, // 2 min, in ns: a retried append with the same msgID is stored once
    allow_direct: true,
  });
}

/** SHA-256 of an event's bytes exactly as stored: the chain link. */
export function hashEventBytes(event: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(event).digest());
}

/** The stored record of an event: its bytes and their hash. */
export function sealAuditEvent(event: AuditEvent): { record: Uint8Array; eventBytes: Uint8Array; hash: Uint8Array } {
  const eventBytes = toBinary(AuditEventSchema, event);
  const hash = hashEventBytes(eventBytes);
  return { record: toBinary(AuditRecordSchema, create(AuditRecordSchema, { event: eventBytes, hash })), eventBytes, hash };
}

export function decodeAuditRecord(bytes: Uint8Array): AuditRecord {
  return fromBinary(AuditRecordSchema, bytes);
}

export function decodeAuditEvent(bytes: Uint8Array): AuditEvent {
  return fromBinary(AuditEventSchema, bytes);
}

/** One message of the audit stream as read back. */
export interface StoredAuditMessage {
  seq: number;
  subject: string;
  /** When the stream stored it (server clock), ms since epoch. */
  storedAtMs: number;
  data: Uint8Array;
}

export interface ReadAuditOptions {
  /** First stream sequence to read; wins over startTime. */
  startSeq?: number;
  /** Read from the first message stored at or after this time (ms since epoch). */
  startTimeMs?: number;
  /** Stop after this many messages (the work bound of one call). */
  maxMessages: number;
  /** Stop at the first message stored after this time (ms since epoch). */
  stopAfterMs?: number;
}

const FETCH_BATCH = 1_000;

/**
 * The audit stream's messages in order, over one ordered consumer positioned at `startSeq` or
 * `startTimeMs`, so a bounded query never reads the stream from its beginning. Yields at most
 * `maxMessages`, never past the last sequence the stream had when the scan began, and returns the
 * sequence to continue from, or undefined when that end was reached. The consumer is deleted when
 * the scan ends, including when the caller stops early (`break`, `return()`).
 */
export async function* scanAuditStream(
  js: JetStreamClient, jsm: JetStreamManager, options: ReadAuditOptions,
): AsyncGenerator<StoredAuditMessage, number | undefined, undefined> {
  const info = await jsm.streams.info(AUDIT_STREAM);
  const lastSeq = info.state.last_seq;
  const lastStoredMs = Date.parse(info.state.last_ts);
  if (info.state.messages === 0 || (options.startSeq !== undefined && options.startSeq > lastSeq)) return undefined;
  // Nothing stored since the start time: a consumer would only wait for its fetch to expire.
  if (options.startSeq === undefined && options.startTimeMs !== undefined && options.startTimeMs > lastStoredMs) return undefined;
  let seq = 0;
  const startAt = (): Partial<OrderedConsumerOptions> =>
    seq > 0
      ? { opt_start_seq: seq + 1 }
      : options.startSeq !== undefined
        ? { opt_start_seq: Math.max(options.startSeq, 1) }
        : options.startTimeMs !== undefined ? { opt_start_time: new Date(options.startTimeMs).toISOString() } : {};
  let consumer = await js.consumers.get(AUDIT_STREAM, startAt());
  let yielded = 0;
  let retries = 0;
  try {
    while (yielded < options.maxMessages) {
      const want = Math.min(FETCH_BATCH, options.maxMessages - yielded);
      const batch: StoredAuditMessage[] = [];
      let done = false;
      try {
        const fetched = await consumer.fetch({ max_messages: want, expires: 2_000 });
        for await (const m of fetched) {
          seq = m.seq;
          const storedAtMs = Math.floor(m.info.timestampNanos / 1e6);
          if (options.stopAfterMs !== undefined && storedAtMs > options.stopAfterMs) {
            done = true;
            break;
          }
          batch.push({ seq, subject: m.subject, storedAtMs, data: m.data });
          if (seq >= lastSeq || m.info.pending === 0) {
            done = true;
            break;
          }
          if (batch.length >= want) break;
        }
      } catch (err) {
        // A consumer just created on another server of the cluster may not be reachable yet
        // ("no responders"): start a new one after the last message read, a few times.
        if (!isNoResponders(err) || ++retries > READ_RETRIES) throw err;
        await consumer.delete().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50 * retries));
        consumer = await js.consumers.get(AUDIT_STREAM, startAt());
        continue;
      }
      // Yielded after the fetch is drained: the caller may stop (and delete the consumer) at any message.
      for (const m of batch) {
        yielded++;
        yield m;
      }
      if (done || batch.length === 0) return undefined;
    }
    return seq + 1;
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}

const READ_RETRIES = 5;
