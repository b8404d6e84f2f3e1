import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { DeleteRequestSchema, ErrorCode, Modality, TemplateEventSchema, type TemplateEvent } from "@taj/proto";
import { AppError, createLogger, partitionOf, templateSubject, type CallContext } from "@taj/common";
import { deleteRecord } from "../src/handlers/records.ts";
import { WrongLastSequence, type PublishOptions, type StoredEvent, type TemplateLogPort } from "../src/template-log.ts";
import type { GatewayDeps } from "../src/deps.ts";

/**
 * The log as the quorum holds it (`truth`), read through a copy that may lag (`stale`): what a
 * gateway at a site cut off from the others sees while its NATS node still believes it leads.
 * Conditional publishes are checked against the truth, as JetStream's leader does.
 */
class LaggingLog implements TemplateLogPort {
  readonly truth = new Map<string, StoredEvent>();
  stale: Map<string, StoredEvent> | undefined;
  readonly published: Array<{ subject: string; options: PublishOptions }> = [];
  /** Every message still stored, by subject (the real stream keeps up to 2 per subject). */
  readonly kept = new Map<string, number[]>();
  readonly erased: number[] = [];
  /** The stale copy catches up after this many refused writes (the cut-off node stepping down). */
  catchUpAfterRefusals = Infinity;
  private refusals = 0;
  private seq = 0;

  store(subject: string, event: TemplateEvent): number {
    this.truth.set(subject, { seq: ++this.seq, event });
    this.kept.set(subject, [...(this.kept.get(subject) ?? []), this.seq]);
    return this.seq;
  }

  async erase(seq: number): Promise<void> {
    for (const [subject, seqs] of this.kept) {
      if (seqs.includes(seq)) {
        this.kept.set(subject, seqs.filter((s) => s !== seq));
        this.erased.push(seq);
      }
    }
  }

  // Not read by Delete.
  // eslint-disable-next-line require-yield
  async *scan(): AsyncGenerator<never, number, undefined> {
    return 0;
  }

  async eraseOlder(subject: string, before: number): Promise<number> {
    const older = (this.kept.get(subject) ?? []).filter((s) => s < before);
    for (const s of older) await this.erase(s);
    return older.length;
  }

  async last(subject: string): Promise<StoredEvent | undefined> {
    return (this.stale ?? this.truth).get(subject);
  }

  async publish(subject: string, event: TemplateEvent, options: PublishOptions): Promise<number> {
    this.published.push({ subject, options });
    const current = this.truth.get(subject)?.seq ?? 0;
    if (options.expectLastSubjectSequence !== undefined && options.expectLastSubjectSequence !== current) {
      if (++this.refusals >= this.catchUpAfterRefusals) this.stale = undefined;
      throw new WrongLastSequence("wrong last sequence");
    }
    return this.store(subject, event);
  }

  async lastSequence(): Promise<bigint> {
    return BigInt(this.seq);
  }
}

const enrolled = create(TemplateEventSchema, { event: { case: "enrolled", value: { id: "rec-9", modality: Modality.FACE, template: [1, 0] } } });
const ctx = { deadline: Date.now() + 5_000 } as CallContext;
const request = create(DeleteRequestSchema, { modality: Modality.FACE, id: "rec-9" });
const subject = templateSubject(Modality.FACE, partitionOf("rec-9", 4), "rec-9");

function depsWith(log: TemplateLogPort): GatewayDeps {
  return { log, partitionCount: () => 4, metrics: undefined, requestTimeoutMs: 5_000, logger: createLogger("test", "silent") } as unknown as GatewayDeps;
}

test("a delete of an id that looks absent still writes its tombstone, conditional on the absence", async () => {
  const log = new LaggingLog();
  const r = await deleteRecord(depsWith(log), request, ctx);
  assert.equal(r.existed, false);
  assert.equal(log.published.length, 1);
  assert.equal(log.published[0]!.options.expectLastSubjectSequence, 0);
  const stored = log.truth.get(log.published[0]!.subject);
  assert.equal(stored?.event.event.case, "deleted");
  assert.equal(r.logSequence, BigInt(stored!.seq));
});

test("a stale read saying absent never acknowledges the delete: the caller is told to retry elsewhere", async () => {
  const log = new LaggingLog();
  log.store(subject, enrolled);
  log.stale = new Map();
  await assert.rejects(deleteRecord(depsWith(log), request, ctx), (err: unknown) => err instanceof AppError && err.code === ErrorCode.UNAVAILABLE);
  assert.equal(log.truth.get(subject)?.event.event.case, "enrolled", "nothing written");
  assert.ok(log.published.length > 1, "re-read and retried");
  assert.ok(log.published.every((p) => p.subject === subject && p.options.expectLastSubjectSequence === 0));
});

test("once the read is current, the delete goes through and says the id existed", async () => {
  const log = new LaggingLog();
  const seq = log.store(subject, enrolled);
  log.stale = new Map();
  log.catchUpAfterRefusals = 1;
  const r = await deleteRecord(depsWith(log), request, ctx);
  assert.equal(r.existed, true);
  assert.deepEqual(log.published.map((p) => p.options.expectLastSubjectSequence), [0, seq]);
  assert.equal(log.truth.get(subject)?.event.event.case, "deleted");
  assert.equal(r.logSequence, BigInt(log.truth.get(subject)!.seq));
});

test("the delete erases the template it replaces, and first any generation an interrupted write left", async () => {
  const log = new LaggingLog();
  const leftover = log.store(subject, enrolled);
  const current = log.store(subject, enrolled);
  const r = await deleteRecord(depsWith(log), request, ctx);
  assert.equal(r.existed, true);
  assert.deepEqual(log.erased, [leftover, current], "the leftover before the write, the replaced one after it");
  assert.deepEqual(log.kept.get(subject), [Number(r.logSequence)], "only the tombstone is kept");
});

test("a delete whose conditional write fails erases nothing it has not replaced", async () => {
  const log = new LaggingLog();
  const current = log.store(subject, enrolled);
  log.stale = new Map();
  await assert.rejects(deleteRecord(depsWith(log), request, ctx));
  assert.deepEqual(log.erased, []);
  assert.deepEqual(log.kept.get(subject), [current]);
});
