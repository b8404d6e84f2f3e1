import { PartitionIndex, type Change, type Hit, type HnswSettings } from "./partition-index.ts";

/** How a shard's indexes are built: HNSW settings, and which modalities get a graph at all. */
export interface IndexOptions {
  hnsw: HnswSettings;
  /** Modalities searched APPROXIMATE: only these build an HNSW graph (modality names, e.g. "face"). */
  graphModalities: readonly string[];
}
import { BodyLocations, exactAmong } from "./body-locations.ts";

export interface ChangeOp {
  modality: string;
  partition: number;
  id: string;
  /** Absent for a delete. */
  vector?: Int8Array;
  /** An enrolment's SMT body location; absent or "" for none. */
  bodyLocation?: string;
}

export interface PartitionHits {
  partition: number;
  hits: Hit[];
}

export interface IndexCount {
  modality: string;
  partition: number;
  templates: number;
}

/** Thrown for a request that is wrong whatever the shard's state (bad dimensions). */
export class InvalidRequest extends Error {}

const keyOf = (modality: string, partition: number) => `${modality}/${partition}`;

/** Every (modality, partition) index this shard holds. Lives inside the index worker. */
export class IndexStore {
  readonly options: IndexOptions;
  /** Body locations of the templates held here; snapshots save them beside the indexes. */
  readonly locations = new BodyLocations();
  private readonly indexes = new Map<string, { modality: string; partition: number; index: PartitionIndex }>();

  constructor(options: IndexOptions) {
    this.options = options;
  }

  /** The HNSW settings when the modality builds a graph, else undefined (exact scans only). */
  hnswFor(modality: string): HnswSettings | undefined {
    return this.options.graphModalities.includes(modality) ? this.options.hnsw : undefined;
  }

  dimsOf(modality: string): number | undefined {
    for (const e of this.indexes.values()) if (e.modality === modality) return e.index.dims;
    return undefined;
  }

  get(modality: string, partition: number): PartitionIndex | undefined {
    return this.indexes.get(keyOf(modality, partition))?.index;
  }

  set(modality: string, partition: number, index: PartitionIndex): void {
    this.indexes.set(keyOf(modality, partition), { modality, partition, index });
  }

  /**
   * Applies log changes in order. A template whose length differs from its modality's index is
   * skipped and reported, rather than stopping the feed for every other id. `removed` counts the
   * stored templates deleted or replaced: the current snapshot still holds them.
   */
  apply(ops: readonly ChangeOp[]): { rejected: string[]; removed: number } {
    const grouped = new Map<string, { modality: string; partition: number; changes: Change[] }>();
    const rejected: string[] = [];
    for (const op of ops) {
      const dims = this.dimsOf(op.modality);
      if (op.vector !== undefined && dims !== undefined && op.vector.length !== dims) {
        rejected.push(op.id);
        continue;
      }
      if (op.vector !== undefined && dims === undefined) {
        this.set(op.modality, op.partition, new PartitionIndex(op.vector.length, this.hnswFor(op.modality)));
      }
      if (op.vector !== undefined) this.locations.enrolled(op.modality, op.partition, op.id, op.bodyLocation ?? "");
      else this.locations.deleted(op.modality, op.partition, op.id);
      const k = keyOf(op.modality, op.partition);
      let g = grouped.get(k);
      if (!g) grouped.set(k, (g = { modality: op.modality, partition: op.partition, changes: [] }));
      g.changes.push({ id: op.id, vector: op.vector });
    }
    let removed = 0;
    for (const g of grouped.values()) {
      let index = this.get(g.modality, g.partition);
      if (!index) {
        const dims = this.dimsOf(g.modality);
        if (dims === undefined) continue; // only deletes for a modality never seen: nothing to do
        index = new PartitionIndex(dims, this.hnswFor(g.modality));
        this.set(g.modality, g.partition, index);
      }
      removed += index.apply(g.changes);
    }
    return { rejected, removed };
  }

  /** With `bodyLocations`, only templates at one of them, scanned exactly whatever `exhaustive` says. */
  search(modality: string, partitions: readonly number[], query: Int8Array, k: number, exhaustive: boolean, bodyLocations: readonly string[] = []): PartitionHits[] {
    const dims = this.dimsOf(modality);
    if (dims !== undefined && dims !== query.length) {
      throw new InvalidRequest(`template must have ${dims} values for this modality`);
    }
    if (bodyLocations.length > 0) {
      const wanted = new Set(bodyLocations);
      return partitions.map((partition) => {
        const index = this.get(modality, partition);
        return { partition, hits: index ? exactAmong(index, this.locations.idsAt(modality, partition, wanted), query, k) : [] };
      });
    }
    return partitions.map((partition) => ({
      partition,
      hits: this.get(modality, partition)?.search(query, k, exhaustive) ?? [],
    }));
  }

  /**
   * The modality's indexes and body locations become `from`'s (a re-index built aside, e.g. with
   * a new projection): every index of the modality held before goes, whatever its partition.
   */
  replaceModality(modality: string, from: IndexStore): void {
    for (const [k, e] of this.indexes) if (e.modality === modality) this.indexes.delete(k);
    for (const e of from.entries()) if (e.modality === modality) this.set(modality, e.partition, e.index);
    this.locations.replaceModality(modality, from.locations);
  }

  drop(partitions: readonly number[]): void {
    const gone = new Set(partitions);
    for (const [k, e] of this.indexes) if (gone.has(e.partition)) this.indexes.delete(k);
    this.locations.drop(gone);
  }

  counts(): IndexCount[] {
    return [...this.indexes.values()]
      .map((e) => ({ modality: e.modality, partition: e.partition, templates: e.index.size }))
      .sort((a, b) => a.modality.localeCompare(b.modality) || a.partition - b.partition);
  }

  entries(): { modality: string; partition: number; index: PartitionIndex }[] {
    return [...this.indexes.values()];
  }
}
