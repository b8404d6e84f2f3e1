import { randomUUID } from "node:crypto";
import type { TemplateEvent } from "@taj/proto";
import { AppError } from "@taj/common";
import { WrongLastSequence, logUnavailable, type StoredEvent, type TemplateLogPort } from "../template-log.ts";

/** Concurrent writers on one id are rare; a few re-reads settle them. */
const MAX_RACES = 3;

export interface Replaced {
  seq: number;
  /** What the subject held before, as read when the write went through. */
  previous: StoredEvent | undefined;
}

/**
 * Writes `event` as the only message of `subject`: the write is conditional on the last message
 * read (so concurrent writers are serialised), and the message it replaces is then securely erased
 * (its bytes overwritten at every replica), never left to the per-subject limit, which drops
 * without erasing. Generations an interrupted call left are erased before writing, so a write
 * always lands on a subject holding one message and the limit (2) never drops one unerased.
 *
 * Answers only once the previous generation is erased: an error leaves it to the caller's retry,
 * which starts by erasing it. The erasures go through the stream's quorum like the write.
 */
/**
 * Writes `event` in place of the subject's message `seq`, only if that is still the subject's
 * last (a rewrite of a record, never of a newer enrolment): false when another write came first.
 * The replaced message is erased as replaceOnSubject erases it.
 */
export async function rewriteIfUnchanged(log: TemplateLogPort, subject: string, seq: number, event: TemplateEvent, deadline: number): Promise<boolean> {
  await log.eraseOlder(subject, seq);
  try {
    await log.publish(subject, event, { msgID: randomUUID(), deadline, expectLastSubjectSequence: seq });
  } catch (err) {
    if (err instanceof WrongLastSequence) return false;
    throw AppError.from(err);
  }
  await log.erase(seq);
  return true;
}

export async function replaceOnSubject(log: TemplateLogPort, subject: string, event: TemplateEvent, deadline: number): Promise<Replaced> {
  for (let race = 0; ; race++) {
    const last = await log.last(subject);
    if (last) await log.eraseOlder(subject, last.seq);
    let seq: number;
    try {
      seq = await log.publish(subject, event, { msgID: randomUUID(), deadline, expectLastSubjectSequence: last?.seq ?? 0 });
    } catch (err) {
      if (!(err instanceof WrongLastSequence)) throw AppError.from(err);
      // Still racing (or still reading a stale copy) after a few re-reads: the caller retries.
      if (race >= MAX_RACES) throw logUnavailable(err);
      continue;
    }
    if (last) await log.erase(last.seq);
    return { seq, previous: last };
  }
}
