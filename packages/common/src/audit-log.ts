import { createHash } from "node:crypto";
import {
  type JetStreamClient, type JetStreamManager, type OrderedConsumerOptions,
} from "nats";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AuditEventSchema, AuditRecordSchema, type AuditEvent, type AuditRecord } from "@taj/proto";
import { AUDIT_STREAM } from "./log-layout.ts";
import { isNoResponders } from "./jetstream-errors.ts";

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
