import {
  AckPolicy, DeliverPolicy, nanos,
  type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg,
} from "nats";
import type { TemplateEnrolled } from "@taj/proto";
import { MAX_TEMPLATE_DIMENSIONS, decodeTemplateEvent, enrolledTemplate, parseTemplateSubject, TEMPLATE_STREAM, TEMPLATE_SUBJECT_ROOT, type Logger } from "@taj/common";
import type { IndexClient } from "./index/client.ts";
import { isFiniteVector, quantize } from "./index/quantize.ts";
import type { ChangeOp } from "./index/store.ts";
import type { PartitionState } from "./partition-state.ts";
import type { Serial } from "./serial.ts";

export interface FeedOptions {
  consumerName: string;
  batchSize: number;
  logger: Logger;
  /**
   * Called after each applied batch, inside the serial queue. `removed`: stored templates the
   * batch deleted or replaced, which the current snapshot still holds.
   */
  onBatch(info: { events: number; applied: number; removed: number; pending: number }): Promise<void>;
  /**
   * What the index stores for an enrolled template (the modality's projection, projection/);
   * undefined: not indexed. Raw templates when absent.
   */
  project?(modality: string, enrolled: TemplateEnrolled): ArrayLike<number> | undefined;
}

const PULL_EXPIRES_MS = 5_000;

/**
 * Reads the template log through one durable pull consumer filtered on `taj.tpl.>`, hands
 * batches to the index worker and acks them once applied. Events for partitions not owned are
 * skipped here: nats-server 2.9 allows one filter subject per consumer, so per-partition filters
 * (NATS >= 2.10 `filter_subjects`) would save that traffic on larger clusters.
 */
export class Feed {
  private readonly jsm: JetStreamManager;
  private readonly js: JetStreamClient;
  private readonly index: IndexClient;
  private readonly state: PartitionState;
  private readonly serial: Serial;
  private readonly options: FeedOptions;
  private messages: ConsumerMessages | undefined;
  private generation = 0;
  private buffer: JsMsg[] = [];
  private draining = false;
  private lastPending = 0;
  /** Consumer sequence of the last message taken, 0 right after (re)positioning. */
  private lastDelivery = 0;
  private stopped = false;
  /** Log messages received since start, applied or skipped: shows how much a restart replayed. */
  delivered = 0;

  constructor(jsm: JetStreamManager, js: JetStreamClient, index: IndexClient, state: PartitionState, serial: Serial, options: FeedOptions) {
    this.jsm = jsm;
    this.js = js;
    this.index = index;
    this.state = state;
    this.serial = serial;
    this.options = options;
  }

  get pending(): number {
    return this.lastPending;
  }

  /**
   * (Re)creates the durable consumer at `startSequence` and consumes from there. The consumer is
   * always recreated, even with the same start: its ack floor may be past the snapshot we loaded
   * (a crash after acking but before snapshotting), and resuming there would lose those events.
   * Call inside the serial queue.
   */
  async position(startSequence: number): Promise<void> {
    await this.stopConsuming();
    const name = this.options.consumerName;
    try {
      await this.jsm.consumers.delete(TEMPLATE_STREAM, name);
    } catch (err) {
      if (!(err instanceof Error) || !/consumer not found/i.test(err.message)) throw err;
    }
    await this.jsm.consumers.add(TEMPLATE_STREAM, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, startSequence),
      filter_subject: `${TEMPLATE_SUBJECT_ROOT}.>`,
      max_ack_pending: 10_000,
      ack_wait: nanos(60_000),
    });
    this.options.logger.info({ consumer: name, startSequence }, "log consumer positioned");
    this.lastDelivery = 0;
    const consumer = await this.js.consumers.get(TEMPLATE_STREAM, name);
    // Short pulls: after a cut the client notices missed heartbeats (expires / 2) and re-pulls
    // within seconds; at the default 30 s a healed site took over a minute to catch up.
    const messages = await consumer.consume({ max_messages: Math.max(this.options.batchSize * 2, 512), expires: PULL_EXPIRES_MS });
    this.messages = messages;
    const generation = ++this.generation;
    void (async () => {
      try {
        for await (const m of messages) {
          if (generation !== this.generation) break;
          this.buffer.push(m);
          this.kick();
        }
      } catch (err) {
        this.options.logger.error({ err }, "log consumer stopped");
      }
    })();
  }

  private kick(): void {
    if (this.draining) return;
    this.draining = true;
    const generation = this.generation;
    void this.serial
      .run(() => this.drain(generation))
      .catch((err: unknown) => this.options.logger.error({ err }, "applying log events failed"))
      .finally(() => {
        this.draining = false;
        if (this.buffer.length > 0) this.kick();
      });
  }

  private async drain(generation: number): Promise<void> {
    while (this.buffer.length > 0 && generation === this.generation) {
      const batch = this.buffer.splice(0, this.options.batchSize);
      await this.apply(batch);
    }
  }

  private async apply(received: JsMsg[]): Promise<void> {
    // Messages handed to a pull request that was lost (a cut, a consumer leader change) come back
    // only after ack_wait, behind later ones, and events are applied in sequence order: so a hole
    // in the consumer sequence means rewinding to the last event applied in order, not going on.
    // A step back (a new consumer leader redelivering) is harmless: events already applied are skipped.
    const hole = received.findIndex((m, i) => m.info.deliverySequence > (i === 0 ? this.lastDelivery : received[i - 1]!.info.deliverySequence) + 1);
    const batch = hole === -1 ? received : received.slice(0, hole);
    if (batch.length > 0) await this.applyInOrder(batch);
    if (hole !== -1) {
      const resumeAt = this.state.consumerPosition() + 1;
      this.options.logger.warn(
        { expected: (batch.at(-1)?.info.deliverySequence ?? this.lastDelivery) + 1, got: received[hole]!.info.deliverySequence, resumeAt },
        "log consumer skipped deliveries; rewinding",
      );
      // Stop taking messages now; rewind as the next task of the queue (not from inside this one),
      // retrying while JetStream is still electing leaders after the cut.
      this.generation++;
      this.buffer = [];
      void this.serial.run(() => this.rewind(resumeAt));
    }
  }

  private async rewind(resumeAt: number, attempt = 1): Promise<void> {
    if (this.stopped) return;
    try {
      await this.position(resumeAt);
    } catch (err) {
      this.options.logger.warn({ err, attempt, resumeAt }, "rewinding the log consumer failed; retrying");
      // Retried as a later task, so snapshots and shutdown are not held behind it.
      setTimeout(() => void this.serial.run(() => this.rewind(resumeAt, attempt + 1)), Math.min(5_000, 500 * attempt)).unref();
    }
  }

  private async applyInOrder(batch: JsMsg[]): Promise<void> {
    this.lastDelivery = batch.at(-1)!.info.deliverySequence;
    const ops: ChangeOp[] = [];
    this.delivered += batch.length;
    for (const m of batch) {
      const op = this.toOp(m);
      if (op) ops.push(op);
      this.state.advance(m.seq);
    }
    let removed = 0;
    if (ops.length > 0) {
      const r = await this.index.apply(ops);
      removed = r.removed;
      if (r.rejected.length > 0) this.options.logger.warn({ ids: r.rejected }, "templates with the wrong dimensions skipped");
    }
    for (const m of batch) m.ack();
    const last = batch[batch.length - 1];
    this.lastPending = last ? last.info.pending : this.lastPending;
    if (last && last.info.pending === 0) this.state.reachedHead();
    await this.options.onBatch({ events: batch.length, applied: ops.length, removed, pending: this.lastPending });
  }

  private toOp(m: JsMsg): ChangeOp | undefined {
    const subject = parseTemplateSubject(m.subject);
    if (!subject) {
      this.options.logger.warn({ seq: m.seq }, "log message on an unexpected subject skipped");
      return undefined;
    }
    if (!this.state.shouldApply(subject.partition, m.seq)) return undefined;
    let event;
    try {
      event = decodeTemplateEvent(m.data);
    } catch (err) {
      this.options.logger.warn({ seq: m.seq, err }, "undecodable log message skipped");
      return undefined;
    }
    this.state.markApplied(subject.partition, m.seq);
    const base = { modality: subject.modalityName, partition: subject.partition, id: subject.id };
    switch (event.event.case) {
      case "enrolled": {
        const t = enrolledTemplate(event.event.value);
        if (t.length === 0 || t.length > MAX_TEMPLATE_DIMENSIONS || !isFiniteVector(t)) {
          this.options.logger.warn({ seq: m.seq, id: subject.id }, "invalid template in the log skipped");
          return undefined;
        }
        const vector = this.options.project ? this.options.project(subject.modalityName, event.event.value) : t;
        if (vector === undefined) {
          this.options.logger.warn({ seq: m.seq, id: subject.id }, "template the modality's projection does not take (another model or length) skipped");
          return undefined;
        }
        return { ...base, vector: quantize(vector), bodyLocation: event.event.value.bodyLocation };
      }
      case "deleted":
        return base;
      default:
        return undefined;
    }
  }

  /**
   * When nothing is pending, the replica is as current as the log even if the last message it
   * saw was not the stream's last (the head was acked by an earlier run, or the last messages
   * were deleted since). `streamLastSequence`: the stream's last sequence read before this call;
   * nothing pending now means every message up to it was delivered and acked, or is gone.
   * Call inside the serial queue.
   */
  async checkHead(streamLastSequence = 0): Promise<void> {
    if (!this.messages || this.buffer.length > 0) return;
    const info = await this.jsm.consumers.info(TEMPLATE_STREAM, this.options.consumerName);
    this.lastPending = info.num_pending;
    if (info.num_pending === 0 && info.num_ack_pending === 0) {
      this.state.advance(Math.max(info.delivered.stream_seq, streamLastSequence));
      this.state.reachedHead();
    }
  }

  private async stopConsuming(): Promise<void> {
    this.generation++;
    this.buffer = [];
    const messages = this.messages;
    this.messages = undefined;
    // Bounded: closing a consumer whose pull died in a cut must not block the queue.
    if (messages) await Promise.race([messages.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2_000).unref())]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.stopConsuming();
  }
}
