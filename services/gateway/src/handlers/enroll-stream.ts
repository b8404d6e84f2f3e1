import type { MessageInitShape } from "@bufbuild/protobuf";
import { ErrorCode, type EnrollRequest, type EnrollResponseSchema, type EnrollStreamRequest, type EnrollStreamResponseSchema } from "@taj/proto";
import { AppError, errorDetailOf } from "@taj/common";

type Result = MessageInitShape<typeof EnrollStreamResponseSchema>;

export interface EnrollStreamOptions {
  /** Items of this stream in flight at most; while that many are, the stream is not read. */
  maxInFlight: number;
  /** Enrols one item, audited (service.ts: Enroll's own path); a rejection becomes the item's error, never the stream's. */
  enrollItem: (req: EnrollRequest) => Promise<MessageInitShape<typeof EnrollResponseSchema>>;
  /** Told once per item, after its result is known. */
  onResult?: (req: EnrollRequest | undefined, code: ErrorCode | "OK") => void;
}

const NO_ENROLL = () => new AppError(ErrorCode.INVALID_ARGUMENT, "the item carries no enroll request");

async function resultOf(item: EnrollStreamRequest, options: EnrollStreamOptions): Promise<Result> {
  const req = item.enroll;
  const id = req?.id ?? "";
  try {
    if (!req) throw NO_ENROLL();
    const res = await options.enrollItem(req);
    options.onResult?.(req, "OK");
    return { item: item.item, id, outcome: { case: "logSequence", value: res.logSequence ?? 0n }, ...(res.quality ? { quality: res.quality } : {}) };
  } catch (err) {
    const error = AppError.from(err);
    options.onResult?.(req, error.code);
    return { item: item.item, id, outcome: { case: "error", value: errorDetailOf(error) } };
  }
}

/**
 * Enrols the items of one stream, at most `maxInFlight` at a time, and yields each result as soon
 * as it is known (completion order). The next request is read only while fewer than maxInFlight
 * items are in flight, so a client sending faster than the extractors work is held back by the
 * transport, not buffered here. A failing item yields its error and the stream goes on; only the
 * request stream itself failing (cancelled, malformed bytes) ends this, with that error.
 */
export async function* enrollStream(requests: AsyncIterable<EnrollStreamRequest>, options: EnrollStreamOptions): AsyncGenerator<Result> {
  const iterator = requests[Symbol.asyncIterator]();
  const done: Result[] = [];
  let inFlight = 0;
  let ended = false;
  let next: Promise<IteratorResult<EnrollStreamRequest>> | undefined;
  let wake: () => void = () => {};
  let settled = new Promise<void>((resolve) => (wake = resolve));
  while (!ended || inFlight > 0 || done.length > 0) {
    while (done.length > 0) yield done.shift()!;
    if (!ended && inFlight < options.maxInFlight) next ??= iterator.next();
    const reading = !ended && next !== undefined ? [next.then((r) => ({ request: r }))] : [];
    const waiting = inFlight > 0 ? [settled.then(() => undefined)] : [];
    if (reading.length === 0 && waiting.length === 0) continue;
    const woken = await Promise.race([...reading, ...waiting]);
    if (woken === undefined) continue;
    next = undefined;
    if (woken.request.done) {
      ended = true;
      continue;
    }
    inFlight++;
    void resultOf(woken.request.value, options).then((result) => {
      done.push(result);
      inFlight--;
      const wakeNow = wake;
      settled = new Promise<void>((resolve) => (wake = resolve));
      wakeNow();
    });
  }
}
