/**
 * Which partitions this replica owns and how far the log has been applied to each.
 *
 * The main consumer reads the subjects of the *joined* partitions in sequence order; `position` is
 * the last sequence it delivered, and a joined partition is current up to it. A partition that
 * arrives later (or was not in the snapshot) is *catching up*: a pass over its own subjects brings
 * its mark to the stream's head, then it joins the main consumer, which is recreated from the lowest
 * mark of the joined partitions; events at or below a partition's own mark are skipped, so
 * overlaps re-apply nothing. A partition is *loaded* — searchable and advertised — once it has
 * reached the stream's last sequence as seen when it was assigned.
 */
export class PartitionState {
  private readonly through = new Map<number, number>();
  private readonly target = new Map<number, number>();
  private readonly main = new Set<number>();
  private position = 0;
  /** Stream head the main consumer was last found at with nothing pending (see reachedHead). */
  private headSeen = 0;

  owned(): number[] {
    return [...this.through.keys()].sort((a, b) => a - b);
  }

  owns(partition: number): boolean {
    return this.through.has(partition);
  }

  /** Partitions the main consumer reads. */
  joined(): number[] {
    return [...this.main].sort((a, b) => a - b);
  }

  isJoined(partition: number): boolean {
    return this.main.has(partition);
  }

  /** Owned partitions not (yet) read by the main consumer. */
  catching(): number[] {
    return this.owned().filter((p) => !this.main.has(p));
  }

  /**
   * Highest sequence whose effect on the partition is known applied from deliveries: what events
   * are skipped by, where consumers restart, what a snapshot records.
   */
  appliedThrough(partition: number): number {
    const own = this.through.get(partition) ?? 0;
    return this.main.has(partition) ? Math.max(own, this.position) : own;
  }

  /** As current as the log up to here: also counts the head the main consumer was found idle at. */
  currentThrough(partition: number): number {
    const applied = this.appliedThrough(partition);
    return this.main.has(partition) ? Math.max(applied, this.headSeen) : applied;
  }

  /**
   * Sets the owned partitions. `known` gives the sequence a partition is already applied through
   * (from a snapshot); others start at 0. New partitions are catching up until `join`ed.
   */
  assign(partitions: readonly number[], lastSequence: number, known: ReadonlyMap<number, number> = new Map()) {
    this.settle();
    const wanted = new Set(partitions);
    const removed = this.owned().filter((p) => !wanted.has(p));
    const added = [...wanted].filter((p) => !this.through.has(p)).sort((a, b) => a - b);
    for (const p of removed) {
      this.through.delete(p);
      this.target.delete(p);
      this.main.delete(p);
    }
    for (const p of added) {
      this.through.set(p, known.get(p) ?? 0);
      this.target.set(p, lastSequence);
    }
    return { added, removed };
  }

  /**
   * Catching-up partitions join the main consumer. Returns the sequence it must (re)start at: the
   * lowest any joined partition still needs.
   */
  join(partitions: readonly number[]): number {
    this.settle();
    // The head the main consumer was idle at says nothing of partitions joining it now.
    if (partitions.some((p) => this.through.has(p) && !this.main.has(p))) this.headSeen = 0;
    for (const p of partitions) if (this.through.has(p)) this.main.add(p);
    if (this.main.size > 0) this.position = Math.min(...[...this.main].map((p) => this.through.get(p)!));
    return this.position + 1;
  }

  /** Lowest mark of `partitions`: a pass over their subjects starts after it. */
  lowestMark(partitions: readonly number[]): number {
    return partitions.length === 0 ? this.position : Math.min(...partitions.map((p) => this.appliedThrough(p)));
  }

  /** Whether the event at `sequence` for `partition` must be applied here. */
  shouldApply(partition: number, sequence: number): boolean {
    return this.through.has(partition) && sequence > this.appliedThrough(partition);
  }

  markApplied(partition: number, sequence: number): void {
    if (this.through.has(partition)) this.through.set(partition, Math.max(this.through.get(partition)!, sequence));
  }

  /** The main consumer delivered `sequence` (whatever its partition). */
  advance(sequence: number): void {
    this.position = Math.max(this.position, sequence);
  }

  /** A pass over the subjects of catching-up `partitions` delivered everything up to `sequence`. */
  advanceCatching(partitions: readonly number[], sequence: number): void {
    for (const p of partitions) if (this.through.has(p) && !this.main.has(p)) this.markApplied(p, sequence);
  }

  /**
   * The main consumer has nothing pending: every joined partition is as current as the log, up to
   * `head` (the stream's last sequence read before). Reported as current, but events are still
   * skipped by deliveries only: a consumer leader that lags the stream's may report nothing
   * pending before it has delivered the last messages, and those must still be applied.
   */
  reachedHead(head = 0): void {
    this.headSeen = Math.max(this.headSeen, head);
    for (const p of this.main) this.target.set(p, 0);
  }

  isLoaded(partition: number): boolean {
    const target = this.target.get(partition);
    return target !== undefined && this.currentThrough(partition) >= target;
  }

  loaded(): number[] {
    return this.owned().filter((p) => this.isLoaded(p));
  }

  /** Lowest applied sequence over owned partitions: every owned partition is at least this current. */
  appliedSequence(): number {
    const owned = this.owned();
    return owned.length === 0 ? Math.max(this.position, this.headSeen) : Math.min(...owned.map((p) => this.currentThrough(p)));
  }

  /** What a snapshot taken now includes, per owned partition. */
  sequences(): Record<number, number> {
    return Object.fromEntries(this.owned().map((p) => [p, this.appliedThrough(p)]));
  }

  /** Last sequence the main consumer delivered. */
  consumerPosition(): number {
    return this.position;
  }

  /** Folds `position` into the joined partitions' own marks, before the joined set changes. */
  private settle(): void {
    for (const p of this.main) this.through.set(p, this.appliedThrough(p));
  }
}
