import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { once } from "node:events";
import type { Metadata } from "@grpc/grpc-js";
import { ErrorCode, type MatchingService, type EnrollStreamResponse } from "@taj/proto";
import { AppError, errorCodeName, modalityName, type ServiceClient } from "@taj/common";
import { Journal, journalKey, readJournal } from "./import-journal.ts";
import type { ImportItem } from "./import-source.ts";

export interface ImportProgress {
  /** Items settled this run: enrolled + failed + skipped. */
  settled: number;
  enrolled: number;
  failed: number;
  /** Already in the journal: not sent again. */
  skipped: number;
}

export interface ImportOptions {
  client: ServiceClient<typeof MatchingService.method>;
  metadata: Metadata;
  /** The source, read once, lazily (an image is read only when its item is sent). */
  items: AsyncIterable<ImportItem>;
  journalPath: string;
  failuresPath: string;
  /** Items sent and not yet answered, at most (bounds the images held in memory). */
  window: number;
  /** Re-sends of an item answered with a retryable code (OVERLOADED, UNAVAILABLE, ...). */
  retries: number;
  /** Aborting stops the import at once (what is acknowledged is journalled, the rest is re-sent by the next run). */
  signal?: AbortSignal;
  onProgress?: (progress: ImportProgress) => void;
}

export interface ImportSummary extends ImportProgress {
  /** Stopped before the end: aborted, or the stream failed (streamError). */
  interrupted: boolean;
  streamError?: AppError;
}

/** Worth sending again: the item was not refused, the cluster was busy or briefly unreachable. */
const RETRYABLE = new Set([ErrorCode.OVERLOADED, ErrorCode.UNAVAILABLE, ErrorCode.DEADLINE_EXCEEDED, ErrorCode.AUDIT_UNAVAILABLE, ErrorCode.RATE_LIMITED]);
const RETRY_DELAY_MS = 500;

interface Pending {
  item: ImportItem;
  attempt: number;
}

/**
 * `tajctl import`: streams the items over one EnrollStream, at most `window` unanswered, and
 * settles each answer: enrolled ones appended to the journal (fsynced in batches), refused ones
 * to the failures file (id, modality, path, code, message: never the image). Ids already in the
 * journal are skipped, so a rerun after an interruption sends only what was not acknowledged.
 */
export async function runImport(options: ImportOptions): Promise<ImportSummary> {
  const done = await readJournal(options.journalPath);
  const journal = await Journal.open(options.journalPath);
  const failures = createWriteStream(options.failuresPath, { flags: "w", mode: 0o600 });
  const progress: ImportProgress = { settled: 0, enrolled: 0, failed: 0, skipped: 0 };
  const summary: ImportSummary = { ...progress, interrupted: false };
  const pending = new Map<bigint, Pending>();
  let nextItem = 1n;
  let wake: () => void = () => {};
  let changed = new Promise<void>((r) => (wake = r));
  const notify = () => {
    const w = wake;
    changed = new Promise<void>((r) => (wake = r));
    w();
  };
  const tell = () => options.onProgress?.({ ...progress });
  const fail = (item: ImportItem, error: AppError) => {
    progress.failed++;
    progress.settled++;
    failures.write(`${JSON.stringify({ id: item.id, modality: modalityName(item.modality), path: item.path, code: errorCodeName(error.code), message: error.message })}\n`);
    tell();
  };

  const stream = options.client.enrollStream({ metadata: options.metadata, ...(options.signal ? { signal: options.signal } : {}) });
  let stopped = options.signal?.aborted ?? false;
  const onAbort = () => {
    stopped = true;
    notify();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });

  const send = async (entry: Pending) => {
    let image: Uint8Array;
    try {
      image = await readFile(entry.item.path);
    } catch {
      fail(entry.item, new AppError(ErrorCode.INVALID_ARGUMENT, "the file cannot be read"));
      return;
    }
    const item = nextItem++;
    pending.set(item, entry);
    const { id, modality, box, bodyLocation } = entry.item;
    await stream.write({ item, enroll: { id, modality, image, ...(box ? { faceBox: box } : {}), ...(bodyLocation !== undefined ? { bodyLocation } : {}) } });
  };

  const settle = (result: EnrollStreamResponse) => {
    const entry = pending.get(result.item);
    if (!entry) return;
    pending.delete(result.item);
    const { outcome } = result;
    if (outcome.case === "logSequence") {
      journal.append(entry.item.modality, entry.item.id, outcome.value);
      progress.enrolled++;
      progress.settled++;
      tell();
    } else {
      const error = new AppError(outcome.value?.code ?? ErrorCode.INTERNAL, outcome.value?.message ?? "no outcome");
      if (RETRYABLE.has(error.code) && entry.attempt < options.retries && !stopped) {
        // Held in `pending` under a placeholder while it waits, so the end waits for it too.
        const placeholder = -result.item;
        pending.set(placeholder, entry);
        setTimeout(() => {
          pending.delete(placeholder);
          if (stopped) return notify();
          send({ item: entry.item, attempt: entry.attempt + 1 }).then(notify, () => notify());
        }, Math.max(RETRY_DELAY_MS, outcome.value?.retryAfterMs ?? 0)).unref();
      } else {
        fail(entry.item, error);
      }
    }
    notify();
  };

  const receiving = (async () => {
    for await (const result of stream.responses) settle(result);
  })().catch((err: unknown) => {
    if (!stopped) summary.streamError = AppError.from(err);
    stopped = true;
    notify();
  });

  try {
    for await (const item of options.items) {
      if (stopped) break;
      if (done.has(journalKey(item.modality, item.id))) {
        progress.skipped++;
        progress.settled++;
        tell();
        continue;
      }
      if (item.invalid) {
        fail(item, item.invalid);
        continue;
      }
      while (pending.size >= options.window && !stopped) await changed;
      if (stopped) break;
      await send({ item, attempt: 0 }).catch(() => undefined);
    }
    while (pending.size > 0 && !stopped) await changed;
    if (!stopped) stream.end();
    else stream.cancel();
    await receiving;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await journal.close();
    failures.end();
    await once(failures, "close");
  }
  summary.interrupted = stopped || summary.streamError !== undefined;
  return Object.assign(summary, progress);
}
