import {
  TEMPLATE_SUBJECT_ROOT, decodeTemplateEvent, parseTemplateSubject, partitionSubjectFilters, type Logger,
} from "@taj/common";
import { enrolledOps } from "./enrolled-ops.ts";
import type { ChangeOp } from "./index/store.ts";
import { LogLane } from "./log-lane.ts";
import type { LogMessage, LogSource } from "./log-source.ts";
import type { PartitionState } from "./partition-state.ts";
import type { Serial } from "./serial.ts";

/** What the feed needs of the index (the worker's IndexClient). */
export interface FeedIndex {
  apply(ops: ChangeOp[]): Promise<{ rejected: string[]; removed: number }>;
}

export interface FeedOptions {
  /** The main consumer's durable name; a catch-up pass uses it with `-catchup`. */
  consumerName: string;
  batchSize: number;
  logger: Logger;
  /**
   * Called after each applied batch, inside the serial queue, and once partitions have caught
   * up. `removed`: stored templates the batch deleted or replaced, which the current snapshot still holds.
   */
  onBatch(info: { events: number; applied: number; removed: number; pending: number }): Promise<void>;
  /**
   * What the index stores for an enrolled template (the modality's projection, projection/);
   * undefined: not indexed. Raw templates when absent.
   */
  project?(modality: string, modelId: string, template: Float32Array): ArrayLike<number> | undefined;
  /** Above this many partitions a consumer reads the whole log (default MAX_FILTER_SUBJECTS). */
  maxFilterSubjects?: number;
}

/**
 * Above this many partitions a consumer reads the whole log and skips what it does not own:
 * nats-server 2.10 checks filters pairwise for overlaps when creating a consumer (here 1024 filters
 * were created, 4096 timed out the request). Partitions per shard are tens in practice.
 */
export const MAX_FILTER_SUBJECTS = 256;


interface CatchUp {
  lane: LogLane;
  partitions: number[];
  /** The stream's last sequence read before the pass was opened: reaching it is enough. */
  head: number;
  deliveredBefore: number;
  done: boolean;
}

/**
 * Reads the template log for the owned partitions only, hands batches to the index worker and
 * acks them once applied. The main consumer's `filter_subjects` are the joined partitions'
 * (`taj.tpl.*.<p>.>` each); a partition added later is first brought to the stream's head by a
 * catch-up pass over its own subjects (from its snapshot mark), then joins the main consumer,
 * recreated from the lowest mark it must serve. Adding a partition therefore reads that
 * partition's messages, not the whole log, and the partitions held go on receiving new events
 * meanwhile.
 */
export class Feed {
  private readonly source: LogSource;
  private readonly index: FeedIndex;
  private readonly state: PartitionState;
  private readonly serial: Serial;
  private readonly options: FeedOptions;
  private main: LogLane | undefined;
  private catchUp: CatchUp | undefined;
  private lastPending = 0;
  private stopped = false;
  /** Log messages received since start, applied or skipped: shows how much a restart or a new partition replayed. */
  delivered = 0;

  constructor(source: LogSource, index: FeedIndex, state: PartitionState, serial: Serial, options: FeedOptions) {
    this.source = source;
    this.index = index;
    this.state = state;
    this.serial = serial;
    this.options = options;
  }

  get pending(): number {
    return this.lastPending;
  }

  /**
   * Owns `partitions` from now on; `head` is the stream's last sequence read just before, `known`
   * the marks a snapshot holds (at start). Recreates the main consumer when its partitions change
   * and starts a catch-up pass over partitions that need one. Returns where the main consumer
   * was (re)positioned, if it was. Call inside the serial queue.
   */
  async assign(partitions: readonly number[], head: number, known?: ReadonlyMap<number, number>): Promise<{ added: number[]; removed: number[]; mainStart?: number }> {
    const joinedBefore = this.state.joined().join();
    const { added, removed } = this.state.assign(partitions, head, known);
    if (this.state.joined().length === 0 && this.state.catching().length > 0) {
      // Nothing read by the main consumer yet: it is itself the pass over the partitions without a
      // mark, and those with one (a snapshot) start it from the lowest; the others catch up.
      const catching = this.state.catching();
      const marked = catching.filter((p) => this.state.appliedThrough(p) > 0);
      this.state.join(marked.length > 0 ? marked : catching);
    }
    let mainStart: number | undefined;
    if (this.state.joined().join() !== joinedBefore || (!this.main && this.state.joined().length > 0)) mainStart = await this.reopenMain(head);
    const catching = this.state.catching();
    if (catching.join() !== (this.catchUp?.partitions.join() ?? "")) await this.startCatchUp(catching, head);
    return mainStart === undefined ? { added, removed } : { added, removed, mainStart };
  }

  /** Recreates the main consumer on the joined partitions' subjects, or removes it when there are none. */
  private async reopenMain(head: number): Promise<number | undefined> {
    const joined = this.state.joined();
    const previous = this.main;
    this.main = undefined;
    if (joined.length === 0) {
      await previous?.close(true);
      // Nothing is read: the replica is as current as the log it last saw.
      this.state.reachedHead(head);
      return undefined;
    }
    await previous?.close();
    const start = this.state.join([]);
    const lane: LogLane = new LogLane({
      source: this.source, serial: this.serial, logger: this.options.logger, name: this.options.consumerName,
      subjects: this.filtersOf(joined), batchSize: this.options.batchSize,
      apply: (batch) => this.applyMain(batch),
      resumeAt: () => this.state.consumerPosition() + 1,
    });
    this.main = lane;
    await lane.start(start);
    return start;
  }

  private async startCatchUp(partitions: number[], head: number): Promise<void> {
    const previous = this.catchUp;
    this.catchUp = undefined;
    await previous?.lane.close(partitions.length === 0);
    if (partitions.length === 0 || this.stopped) return;
    const cu: CatchUp = {
      partitions, head, deliveredBefore: this.delivered, done: false,
      lane: new LogLane({
        source: this.source, serial: this.serial, logger: this.options.logger, name: `${this.options.consumerName}-catchup`,
        subjects: this.filtersOf(partitions), batchSize: this.options.batchSize, transient: true,
        apply: (batch) => this.applyCatchUp(cu, batch),
        resumeAt: () => this.state.lowestMark(cu.partitions) + 1,
      }),
    };
    this.catchUp = cu;
    const start = this.state.lowestMark(partitions) + 1;
    this.options.logger.info({ partitions, startSequence: start, head }, "catching up new partitions from their own subjects");
    await cu.lane.start(start);
    await this.checkCatchUp().catch((err: unknown) => this.options.logger.warn({ err }, "reading the catch-up consumer's state failed; the head check retries"));
  }

  private filtersOf(partitions: readonly number[]): string[] {
    const max = this.options.maxFilterSubjects ?? MAX_FILTER_SUBJECTS;
    return partitions.length > max ? [`${TEMPLATE_SUBJECT_ROOT}.>`] : partitionSubjectFilters(partitions);
  }

  private async applyMain(batch: LogMessage[]): Promise<void> {
    const { applied, removed } = await this.applyBatch(batch, (p) => this.state.isJoined(p), (m) => this.state.advance(m.seq));
    const last = batch.at(-1)!;
    this.lastPending = last.pending;
    if (last.pending === 0) this.state.reachedHead();
    await this.options.onBatch({ events: batch.length, applied, removed, pending: this.lastPending });
  }

  private async applyCatchUp(cu: CatchUp, batch: LogMessage[]): Promise<void> {
    if (cu !== this.catchUp || cu.done) return;
    const own = new Set(cu.partitions);
    const { applied, removed } = await this.applyBatch(batch, (p) => own.has(p) && !this.state.isJoined(p), () => {});
    const last = batch.at(-1)!;
    // In order up to `last`: every message of these partitions up to it is applied. Not the head,
    // even with nothing pending: a consumer leader lagging the stream's may say so too early, and
    // the main consumer, restarted after the lowest mark, reads whatever is between.
    this.state.advanceCatching(cu.partitions, last.seq);
    if (last.pending === 0 || last.seq >= cu.head) this.caughtUp(cu);
    await this.options.onBatch({ events: batch.length, applied, removed, pending: this.lastPending });
  }

  /** Stops the pass and, as the next task of the queue, moves its partitions to the main consumer. */
  private caughtUp(cu: CatchUp): void {
    cu.done = true;
    cu.lane.halt();
    void this.serial.run(() => this.join(cu)).catch((err: unknown) => this.options.logger.error({ err }, "moving caught-up partitions to the main consumer failed"));
  }

  private async join(cu: CatchUp): Promise<void> {
    if (cu !== this.catchUp || this.stopped) return;
    this.catchUp = undefined;
    await cu.lane.close(true);
    this.state.join(cu.partitions);
    this.options.logger.info({ partitions: cu.partitions, delivered: this.delivered - cu.deliveredBefore }, "partitions caught up; the main consumer reads them now");
    await this.reopenMain(cu.head);
    await this.options.onBatch({ events: 0, applied: 0, removed: 0, pending: this.lastPending });
  }

  private async applyBatch(batch: LogMessage[], accepts: (partition: number) => boolean, delivered: (m: LogMessage) => void): Promise<{ applied: number; removed: number }> {
    const ops: ChangeOp[] = [];
    let applied = 0;
    this.delivered += batch.length;
    for (const m of batch) {
      const made = this.toOps(m, accepts);
      if (made.length > 0) applied++;
      ops.push(...made);
      delivered(m);
    }
    let removed = 0;
    if (ops.length > 0) {
      const r = await this.index.apply(ops);
      removed = r.removed;
      if (r.rejected.length > 0) this.options.logger.warn({ ids: r.rejected }, "templates with the wrong dimensions skipped");
    }
    for (const m of batch) m.ack();
    return { applied, removed };
  }

  /** The index changes of one log message: none, a delete, or one enrolment per model it holds. */
  private toOps(m: LogMessage, accepts: (partition: number) => boolean): ChangeOp[] {
    const subject = parseTemplateSubject(m.subject);
    if (!subject) {
      this.options.logger.warn({ seq: m.seq }, "log message on an unexpected subject skipped");
      return [];
    }
    if (!accepts(subject.partition) || !this.state.shouldApply(subject.partition, m.seq)) return [];
    let event;
    try {
      event = decodeTemplateEvent(m.data);
    } catch (err) {
      this.options.logger.warn({ seq: m.seq, err }, "undecodable log message skipped");
      return [];
    }
    this.state.markApplied(subject.partition, m.seq);
    const base = { modality: subject.modalityName, partition: subject.partition, id: subject.id };
    switch (event.event.case) {
      case "enrolled": {
        const { ops, skipped } = enrolledOps(base, event.event.value, (modelId, t) => (this.options.project ? this.options.project(subject.modalityName, modelId, t) : t));
        if (skipped > 0) {
          this.options.logger.warn({ seq: m.seq, id: subject.id, skipped }, "template skipped: unusable, or not taken by the modality's projection (another model or length)");
        }
        return ops;
      }
      case "deleted":
        return [base];
      default:
        return [];
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
    await this.checkMainHead(streamLastSequence);
    await this.checkCatchUp();
  }

  private async checkMainHead(streamLastSequence: number): Promise<void> {
    const lane = this.main;
    // Nothing read by the main consumer: no partition it would serve is behind the log.
    if (!lane && this.state.joined().length === 0) this.state.reachedHead(streamLastSequence);
    if (!lane?.idle) return;
    const info = await lane.info()!;
    if (lane !== this.main) return;
    this.lastPending = info.pending;
    if (info.pending === 0 && info.ackPending === 0) this.state.reachedHead(Math.max(info.deliveredSequence, streamLastSequence));
  }

  /** A pass with nothing left to deliver (its partitions hold nothing after their marks) is done. */
  private async checkCatchUp(): Promise<void> {
    const cu = this.catchUp;
    if (!cu || cu.done || !cu.lane.idle) return;
    const info = await cu.lane.info()!;
    if (cu !== this.catchUp || cu.done || !cu.lane.idle || info.pending !== 0 || info.ackPending !== 0) return;
    this.state.advanceCatching(cu.partitions, info.deliveredSequence);
    this.caughtUp(cu);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const { main, catchUp } = this;
    this.main = undefined;
    this.catchUp = undefined;
    await main?.close();
    await catchUp?.lane.close(true);
  }
}
