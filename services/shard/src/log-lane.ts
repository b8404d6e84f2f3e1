import type { Logger } from "@taj/common";
import type { LogConsumerState, LogMessage, LogReader, LogSource } from "./log-source.ts";
import type { Serial } from "./serial.ts";

export interface LaneOptions {
  source: LogSource;
  serial: Serial;
  logger: Logger;
  /** The consumer's durable name. */
  name: string;
  subjects: readonly string[];
  batchSize: number;
  transient?: boolean;
  /** Applies a batch delivered in order (inside the serial queue). */
  apply(batch: LogMessage[]): Promise<void>;
  /** Next stream sequence to read after a hole: the first not applied in order. */
  resumeAt(): number;
}

/**
 * One consumer of the log: its messages are buffered and handed in batches, in delivery order and
 * inside the serial queue, to `apply`. Messages handed to a pull request that was lost (a cut, a
 * consumer leader change) come back only after ack_wait, behind later ones, and events are applied
 * in sequence order: so a hole in the consumer sequence means rewinding to `resumeAt`, not going on.
 * A step back (a new consumer leader redelivering) is harmless: events already applied are skipped.
 */
export class LogLane {
  private readonly o: LaneOptions;
  private reader: LogReader | undefined;
  private generation = 0;
  private buffer: LogMessage[] = [];
  private draining = false;
  /** Consumer sequence of the last message taken, 0 right after (re)positioning. */
  private lastDelivery = 0;
  private closed = false;

  constructor(options: LaneOptions) {
    this.o = options;
  }

  get subjects(): readonly string[] {
    return this.o.subjects;
  }

  /** Nothing received and not yet applied. */
  get idle(): boolean {
    return this.reader !== undefined && this.buffer.length === 0;
  }

  /**
   * Opens the consumer at `startSequence`; if JetStream does not answer, retries in the background
   * (as later tasks of the queue) rather than leaving the partitions unread. Call inside the serial queue.
   */
  async start(startSequence: number): Promise<void> {
    await this.rewind(startSequence);
  }

  /** (Re)creates the consumer at `startSequence` and consumes from there. Call inside the serial queue. */
  async open(startSequence: number): Promise<void> {
    await this.stopConsuming();
    const reader = await this.o.source.open(this.o.name, {
      startSequence, subjects: this.o.subjects, maxMessages: Math.max(this.o.batchSize * 2, 512), ...(this.o.transient ? { transient: true } : {}),
    });
    this.o.logger.info({ consumer: this.o.name, startSequence, filters: this.o.subjects.length }, "log consumer positioned");
    this.lastDelivery = 0;
    this.reader = reader;
    const generation = ++this.generation;
    void (async () => {
      try {
        for await (const m of reader) {
          if (generation !== this.generation) break;
          this.buffer.push(m);
          this.kick();
        }
      } catch (err) {
        this.o.logger.error({ err, consumer: this.o.name }, "log consumer stopped");
      }
    })();
  }

  info(): Promise<LogConsumerState> | undefined {
    return this.reader?.info();
  }

  private kick(): void {
    if (this.draining) return;
    this.draining = true;
    const generation = this.generation;
    void this.o.serial
      .run(() => this.drain(generation))
      .catch((err: unknown) => this.o.logger.error({ err }, "applying log events failed"))
      .finally(() => {
        this.draining = false;
        if (this.buffer.length > 0) this.kick();
      });
  }

  private async drain(generation: number): Promise<void> {
    while (this.buffer.length > 0 && generation === this.generation) {
      const received = this.buffer.splice(0, this.o.batchSize);
      const hole = received.findIndex((m, i) => m.deliverySequence > (i === 0 ? this.lastDelivery : received[i - 1]!.deliverySequence) + 1);
      const batch = hole === -1 ? received : received.slice(0, hole);
      if (batch.length > 0) {
        this.lastDelivery = batch.at(-1)!.deliverySequence;
        await this.o.apply(batch);
      }
      if (hole !== -1) {
        const resumeAt = this.o.resumeAt();
        this.o.logger.warn(
          { consumer: this.o.name, expected: this.lastDelivery + 1, got: received[hole]!.deliverySequence, resumeAt },
          "log consumer skipped deliveries; rewinding",
        );
        // Stop taking messages now; rewind as the next task of the queue (not from inside this one),
        // retrying while JetStream is still electing leaders after the cut.
        this.generation++;
        this.buffer = [];
        void this.o.serial.run(() => this.rewind(resumeAt));
      }
    }
  }

  private async rewind(resumeAt: number, attempt = 1): Promise<void> {
    if (this.closed) return;
    try {
      await this.open(resumeAt);
    } catch (err) {
      this.o.logger.warn({ err, attempt, resumeAt, consumer: this.o.name }, "positioning the log consumer failed; retrying");
      // Retried as a later task, so snapshots and shutdown are not held behind it.
      setTimeout(() => void this.o.serial.run(() => this.rewind(resumeAt, attempt + 1)), Math.min(5_000, 500 * attempt)).unref();
    }
  }

  /** Stops taking messages at once, from inside `apply` too (the batch being applied is finished). */
  halt(): void {
    this.generation++;
    this.buffer = [];
  }

  /** Stops taking messages: those buffered are dropped (the next open reads them again). */
  private async stopConsuming(): Promise<void> {
    this.generation++;
    this.buffer = [];
    const reader = this.reader;
    this.reader = undefined;
    // Bounded: closing a consumer whose pull died in a cut must not block the queue.
    if (reader) await Promise.race([reader.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2_000).unref())]);
  }

  /** Stops for good; `remove` also deletes the consumer. Call inside the serial queue. */
  async close(remove = false): Promise<void> {
    this.closed = true;
    await this.stopConsuming();
    if (remove) await this.o.source.remove(this.o.name).catch((err: unknown) => this.o.logger.warn({ err, consumer: this.o.name }, "deleting a log consumer failed"));
  }
}
