import {
  DiscardPolicy, RetentionPolicy, StorageType,
  type JetStreamManager, type StreamInfo,
} from "nats";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TemplateEventSchema, type TemplateEvent } from "@taj/proto";
import { TEMPLATE_STREAM, TEMPLATE_SUBJECT_ROOT } from "./log-layout.ts";

export interface TemplateStreamOptions {
  /** Copies JetStream keeps; 3 across site A, site B and the witness in the two-site cluster. */
  replicas: number;
}

/**
 * Creates the template log if it does not exist. Keeping only the last message per subject makes
 * the stream both the change feed and the current set of templates, so any replica can be rebuilt
 * from it, and a tombstone (delete) stays in the log so a replica replaying it never resurrects
 * an id.
 */
export async function ensureTemplateStream(jsm: JetStreamManager, options: TemplateStreamOptions): Promise<StreamInfo> {
  try {
    return await jsm.streams.info(TEMPLATE_STREAM);
  } catch (err) {
    if (!(err instanceof Error) || !/stream not found/i.test(err.message)) throw err;
  }
  return jsm.streams.add({
    name: TEMPLATE_STREAM,
    subjects: [`${TEMPLATE_SUBJECT_ROOT}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_msgs_per_subject: 1,
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
