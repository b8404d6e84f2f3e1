/**
 * Which partitions this replica owns and how far the log has been applied to each.
 *
 * One durable consumer reads the whole log in sequence order. `position` is the last sequence
 * it delivered; a partition owned throughout is current up to it. A partition that arrives later
 * (or was not in the snapshot) starts at 0, and the consumer is rewound to the lowest sequence any
 * owned partition still needs; events at or below a partition's own mark are skipped, so the
 * rewind re-applies nothing. A partition is *loaded* — searchable and advertised — once it has
 * reached the stream's last sequence as seen when it was assigned.
 */
export class PartitionState {
  private readonly through = new Map<number, number>();
  private readonly target = new Map<number, number>();
  private position = 0;

  owned(): number[] {
    return [...this.through.keys()].sort((a, b) => a - b);
  }

  owns(partition: number): boolean {
    return this.through.has(partition);
  }

  /** Highest sequence whose effect on the partition is applied. */
  appliedThrough(partition: number): number {
    return Math.max(this.through.get(partition) ?? 0, this.position);
  }

  /**
   * Sets the owned partitions. `known` gives the sequence a partition is already applied
   * through (from a snapshot); others start at 0. Returns the partitions added and removed, and
   * where the consumer must (re)start when a partition needs older events than it has read.
   */
  assign(partitions: readonly number[], lastSequence: number, known: ReadonlyMap<number, number> = new Map()) {
    for (const p of this.through.keys()) this.through.set(p, this.appliedThrough(p));
    const wanted = new Set(partitions);
    const removed = this.owned().filter((p) => !wanted.has(p));
    const added = [...wanted].filter((p) => !this.through.has(p)).sort((a, b) => a - b);
    for (const p of removed) {
      this.through.delete(p);
      this.target.delete(p);
    }
    for (const p of added) {
      this.through.set(p, known.get(p) ?? 0);
      this.target.set(p, lastSequence);
    }
    let restartAt: number | undefined;
    if (added.length > 0) {
      const lowest = Math.min(...this.through.values());
      if (lowest < this.position || this.position === 0) {
        restartAt = lowest + 1;
        this.position = lowest;
      }
    }
    return { added, removed, restartAt };
  }

  /** Whether the event at `sequence` for `partition` must be applied here. */
  shouldApply(partition: number, sequence: number): boolean {
    return this.through.has(partition) && sequence > this.appliedThrough(partition);
  }

  markApplied(partition: number, sequence: number): void {
    if (this.through.has(partition)) this.through.set(partition, Math.max(this.through.get(partition)!, sequence));
  }

  /** The consumer delivered `sequence` (whatever its partition). */
  advance(sequence: number): void {
    this.position = Math.max(this.position, sequence);
  }

  /** The consumer has nothing pending: every owned partition is as current as the log. */
  reachedHead(): void {
    for (const p of this.target.keys()) this.target.set(p, 0);
  }

  isLoaded(partition: number): boolean {
    const target = this.target.get(partition);
    return target !== undefined && this.appliedThrough(partition) >= target;
  }

  loaded(): number[] {
    return this.owned().filter((p) => this.isLoaded(p));
  }

  /** Lowest applied sequence over owned partitions: every owned partition is at least this current. */
  appliedSequence(): number {
    const owned = this.owned();
    return owned.length === 0 ? this.position : Math.min(...owned.map((p) => this.appliedThrough(p)));
  }

  /** What a snapshot taken now includes, per owned partition. */
  sequences(): Record<number, number> {
    return Object.fromEntries(this.owned().map((p) => [p, this.appliedThrough(p)]));
  }

  consumerPosition(): number {
    return this.position;
  }
}
