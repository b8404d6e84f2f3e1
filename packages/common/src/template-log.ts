import {
  DiscardPolicy, RetentionPolicy, StorageType,
  type JetStreamManager, type StreamInfo,
} from "nats";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TemplateEventSchema, type TemplateEvent } from "@taj/proto";
import { TEMPLATE_STREAM, TEMPLATE_SUBJECT_ROOT } from "./log-layout.ts";
import { isStreamNotFound } from "./jetstream-errors.ts";

export interface TemplateStreamOptions {
  /** Copies JetStream keeps; 3 across site A, site B and the witness in the two-site cluster. */
  replicas: number;
}

/**
 * Messages kept per subject. The writers (the gateway) keep one: each write securely erases the
 * previous message of its subject (see services/gateway/src/handlers/replace.ts). The limit is 2,
 * not 1, because a message the limit drops is removed without erasure and its bytes stay in the
 * message block until the block is compacted: with 2, a write lands on a subject holding one
 * message and the limit never drops a template.
 */
export const TEMPLATE_MSGS_PER_SUBJECT = 2;

/**
 * Creates the template log if it does not exist (and moves an older one to the current per-subject
 * limit). Keeping only the last message per subject makes the stream both the change feed and the
 * current set of templates, so any replica can be rebuilt from it, and a tombstone (delete) stays
 * in the log so a replica replaying it never resurrects an id.
 */
export async function ensureTemplateStream(jsm: JetStreamManager, options: TemplateStreamOptions): Promise<StreamInfo> {
  try {
    const info = await jsm.streams.info(TEMPLATE_STREAM);
    if (info.config.max_msgs_per_subject === TEMPLATE_MSGS_PER_SUBJECT) return info;
    return await jsm.streams.update(TEMPLATE_STREAM, { max_msgs_per_subject: TEMPLATE_MSGS_PER_SUBJECT });
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
  }
  return jsm.streams.add({
    name: TEMPLATE_STREAM,
    subjects: [`${TEMPLATE_SUBJECT_ROOT}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_msgs_per_subject: TEMPLATE_MSGS_PER_SUBJECT,
    num_replicas: options.replicas,
    duplicate_window: 120_000_000_000, // 2 min, in ns: a retried publish with the same msgID is stored once
    allow_direct: true,
  });
}

export function encodeTemplateEvent(event: TemplateEvent): Uint8Array {
  return toBinary(TemplateEventSchema, event);
}

export function decodeTemplateEvent(bytes: Uint8Array): TemplateEvent {
  return fromBinary(TemplateEventSchema, bytes);
}

export { create };
