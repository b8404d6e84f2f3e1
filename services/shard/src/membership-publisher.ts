import type { Logger, Member } from "@taj/common";

export interface PublisherDeps {
  /** Owned and loaded partitions (PartitionState). */
  state: { owned(): number[]; loaded(): number[] };
  /** Writes the member entry (Membership: never throws, retries by itself). */
  publish(member: Member): Promise<void>;
  address: string;
  startedAt: string;
  logger: Logger;
  /** Logged with "caught up with the log", once. */
  progress(): Record<string, unknown>;
}

/**
 * What the replica advertises in its member entry: the loaded partitions, less those being handed
 * over. Nothing until every owned partition has caught up at start (so a restarting replica is not
 * routed to half-loaded); afterwards, every change.
 */
export class MembershipPublisher {
  private readonly deps: PublisherDeps;
  private leaving = new Set<number>();
  private published: string | undefined;

  constructor(deps: PublisherDeps) {
    this.deps = deps;
  }

  /** These partitions are being handed over: still served, no longer advertised. */
  withdraw(partitions: readonly number[]): void {
    this.leaving = new Set(partitions);
  }

  /** The hand-over is done (the partitions are dropped or kept): advertise by what is loaded again. */
  settle(): void {
    this.leaving = new Set();
  }

  /** Publishes the entry if what it would say changed. */
  async refresh(): Promise<void> {
    const { state, logger } = this.deps;
    const loaded = state.loaded().filter((p) => !this.leaving.has(p));
    if (this.published === undefined && loaded.length < state.owned().length) return;
    const signature = loaded.join(",");
    if (signature === this.published) return;
    if (this.published === undefined) logger.info(this.deps.progress(), "caught up with the log");
    this.published = signature;
    logger.info({ partitions: loaded, ...this.deps.progress() }, "loaded partitions changed");
    await this.deps.publish({ address: this.deps.address, partitions: loaded, startedAt: this.deps.startedAt });
  }
}
