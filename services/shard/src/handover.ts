import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@taj/common";

export interface HandoverDeps {
  /** How long a removed partition is still served after it left the member entry. */
  graceMs: number;
  logger: Logger;
  /** Partitions owned now. */
  owned(): readonly number[];
  /** Stops advertising `partitions`; they are still served. */
  withdraw(partitions: number[]): Promise<void>;
  /** Makes `partitions` the owned set: drops, replays, advertises. */
  apply(partitions: number[]): Promise<void>;
  wait?(ms: number): Promise<void>;
}

/**
 * Assignment changes, one at a time and always to the latest assignment read. A removed partition
 * is first withdrawn from the member entry, then still served for the grace period before it is
 * dropped: coordinators see the entry change through their etcd watch and route elsewhere, so none
 * is answered UNAVAILABLE by a replica it still believes in.
 */
export class Handover {
  private readonly deps: HandoverDeps;
  private wanted: number[];
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(initial: number[], deps: HandoverDeps) {
    this.wanted = initial;
    this.deps = deps;
  }

  change(partitions: number[]): void {
    this.wanted = partitions;
    this.queue = this.queue
      .then(() => this.step())
      .catch((err: unknown) => this.deps.logger.error({ err }, "applying the new assignment failed"));
  }

  /** Resolves once every change received so far is applied (or failed, logged). */
  settled(): Promise<void> {
    return this.queue;
  }

  /** Changes still queued are not applied. */
  stop(): void {
    this.stopped = true;
  }

  private async step(): Promise<void> {
    if (this.stopped) return;
    const going = this.deps.owned().filter((p) => !this.wanted.includes(p));
    if (going.length > 0 && this.deps.graceMs > 0) {
      this.deps.logger.info({ partitions: going, graceMs: this.deps.graceMs }, "withdrawing partitions from membership before dropping them");
      await this.deps.withdraw(going);
      await (this.deps.wait ?? sleep)(this.deps.graceMs);
    }
    if (this.stopped) return;
    await this.deps.apply(this.wanted);
  }
}
