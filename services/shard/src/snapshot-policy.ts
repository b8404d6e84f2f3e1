import type { Logger } from "@taj/common";

export interface SnapshotPolicyOptions {
  /** A snapshot once this many events were applied since the last one. */
  everyNEvents: number;
  /** A snapshot this often while events were applied since the last one. */
  intervalMs: number;
  /** After a delete, a replace or a partition leaving, a snapshot within this delay (a bound, not a quiet period). */
  purgeDelayMs: number;
  /**
   * Most of the time the event and interval snapshots may take, in percent: after a snapshot
   * that took d ms, they wait at least d·(100/p − 1) ms. A snapshot writes every partition, so
   * its cost grows with the shard; without this bound a bulk load of millions would spend most
   * of its time rewriting snapshots every N events. Purge snapshots are not held back.
   */
  maxDutyPercent: number;
  /** Runs a task in the replica's serial queue (snapshots never interleave with log batches). */
  run(task: () => Promise<void>): Promise<void>;
  logger: Logger;
  /** Writes a snapshot of what is applied now; called inside the serial queue. */
  write(reason: string): Promise<void>;
}

/**
 * When the replica writes snapshots: every N applied events, on an interval, and soon after a
 * template leaves (the snapshot on disk still holds it: docs/data-protection.md). Knows nothing of
 * what a snapshot holds.
 */
export class SnapshotPolicy {
  private readonly o: SnapshotPolicyOptions;
  private eventsSince = 0;
  /** Before this (epoch ms) event and interval snapshots wait: the duty-cycle bound. */
  private notBefore = 0;
  private unsnapshottedSince: number | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;
  private intervalTimer: NodeJS.Timeout | undefined;

  constructor(options: SnapshotPolicyOptions) {
    this.o = options;
  }

  start(): void {
    this.intervalTimer ??= setInterval(() => {
      // Decided inside the queue: a batch's snapshot may be running, and the bound starts when it ends.
      void this.o.run(async () => (this.eventsSince > 0 && Date.now() >= this.notBefore ? this.take("interval") : undefined)).catch((err: unknown) => this.o.logger.error({ err }, "snapshot failed"));
    }, this.o.intervalMs);
  }

  /** After an applied batch, inside the serial queue. `removed`: templates the snapshot on disk still holds. */
  async afterBatch(batch: { applied: number; removed: number }): Promise<void> {
    if (batch.applied > 0 || batch.removed > 0) this.unsnapshottedSince ??= Date.now();
    this.eventsSince += batch.applied;
    if (batch.removed > 0) this.purgeSoon();
    if (this.eventsSince >= this.o.everyNEvents && Date.now() >= this.notBefore) await this.take("events");
  }

  /** Templates left the replica (a delete, a dropped partition): a snapshot within the purge delay. */
  purgeSoon(): void {
    if (this.purgeTimer) return;
    this.purgeTimer = setTimeout(() => {
      this.purgeTimer = undefined;
      void this.o.run(() => this.take("purge")).catch((err: unknown) => this.o.logger.error({ err }, "snapshot after a delete failed"));
    }, this.o.purgeDelayMs);
  }

  /** Writes a snapshot now. Call inside the serial queue. */
  async take(reason: string): Promise<void> {
    const started = Date.now();
    await this.o.write(reason);
    const ended = Date.now();
    this.notBefore = ended + (ended - started) * (100 / this.o.maxDutyPercent - 1);
    this.eventsSince = 0;
    this.unsnapshottedSince = undefined;
  }

  /** Since when (epoch ms) the snapshot on disk has lacked applied changes; undefined while current. */
  unsnapshottedSinceMs(): number | undefined {
    return this.unsnapshottedSince;
  }

  stop(): void {
    clearInterval(this.intervalTimer);
    clearTimeout(this.purgeTimer);
    this.intervalTimer = undefined;
    this.purgeTimer = undefined;
  }
}
