import type { JetStreamClient, JetStreamManager } from "nats";
import type { Modality, TemplateEvent } from "@taj/proto";
import { modalityName } from "./ids.ts";
import { isNoResponders } from "./jetstream-errors.ts";
import { TEMPLATE_STREAM, TEMPLATE_SUBJECT_ROOT, parseTemplateSubject } from "./log-layout.ts";
import { decodeTemplateEvent } from "./template-log.ts";

export interface LoggedTemplate {
  seq: number;
  modality: string;
  partition: number;
  id: string;
  /** undefined when the message does not decode (reported by the reader, never fatal). */
  event: TemplateEvent | undefined;
}

export interface ScanTemplateOptions {
  /** Only this modality's subjects; all when absent. */
  modality?: Modality;
  /** First stream sequence to read (default 1). */
  fromSequence?: number;
  /** Subjects and sequences only (no payload, `event` undefined): what is current per subject, cheaply. */
  headersOnly?: boolean;
}

const FETCH_BATCH = 1_000;
const READ_RETRIES = 5;

/**
 * Every message of the template log from `fromSequence` up to the stream's last sequence as read
 * when the scan starts, in sequence order, over one ordered consumer (deleted at the end). Since
 * the stream keeps the last message per (modality, id), a scan from 1 is the set of current
 * templates and deletions. Returns the head it read up to: a later scan from head + 1 goes on.
 */
export async function* scanTemplateLog(
  js: JetStreamClient, jsm: JetStreamManager, options: ScanTemplateOptions = {},
): AsyncGenerator<LoggedTemplate, number, undefined> {
  const head = (await jsm.streams.info(TEMPLATE_STREAM)).state.last_seq;
  let next = Math.max(1, options.fromSequence ?? 1);
  if (next > head) return head;
  const filterSubjects = options.modality === undefined ? `${TEMPLATE_SUBJECT_ROOT}.>` : `${TEMPLATE_SUBJECT_ROOT}.${modalityName(options.modality)}.>`;
  const open = () => js.consumers.get(TEMPLATE_STREAM, { filterSubjects, opt_start_seq: next, ...(options.headersOnly ? { headers_only: true } : {}) });
  let consumer = await open();
  let retries = 0;
  try {
    // Created here: with nothing matching, a fetch would only wait for its expiry.
    if ((await consumer.info()).num_pending === 0) return head;
    for (;;) {
      const batch: LoggedTemplate[] = [];
      let done = false;
      let fetched = 0;
      try {
        for await (const m of await consumer.fetch({ max_messages: FETCH_BATCH, expires: 2_000 })) {
          fetched++;
          next = m.seq + 1;
          const subject = parseTemplateSubject(m.subject);
          if (subject) {
            let event: TemplateEvent | undefined;
            try {
              event = options.headersOnly ? undefined : decodeTemplateEvent(m.data);
            } catch {
              event = undefined;
            }
            batch.push({ seq: m.seq, modality: subject.modalityName, partition: subject.partition, id: subject.id, event });
          }
          if (m.seq >= head || m.info.pending === 0) {
            done = true;
            break;
          }
        }
      } catch (err) {
        // A consumer just created on another server of a cluster may not answer yet: start anew after the last read.
        if (!isNoResponders(err) || ++retries > READ_RETRIES) throw err;
        await consumer.delete().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50 * retries));
        consumer = await open();
        continue;
      }
      yield* batch;
      if (done || fetched === 0) return head;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}
