import { PartitionIndex, type Change, type Hit, type HnswSettings } from "./partition-index.ts";

/** How a shard's indexes are built: HNSW settings, and which modalities get a graph at all. */
export interface IndexOptions {
  hnsw: HnswSettings;
  /** Modalities searched APPROXIMATE: only these build an HNSW graph (modality names, e.g. "face"). */
  graphModalities: readonly string[];
}
import { spaceOf, spaceParts } from "@taj/common";
import { BodyLocations, exactAmong } from "./body-locations.ts";

/**
 * One log event's effect on one id. An enrolment replaces the id's templates of the modality:
 * its template goes into the space of its model, and the id leaves the modality's other spaces,
 * unless the same event also writes them (`alongside`: an enrolment during a model upgrade holds
 * a template of each model). A delete removes the id from every space of the modality.
 */
export interface ChangeOp {
  modality: string;
  partition: number;
  id: string;
  /** Absent for a delete. */
  vector?: Int8Array;
  /** The model that made `vector` ("" in log records from before model ids were read). */
  modelId?: string;
  /** Other models whose templates the same event writes (their own ops): the id stays in their spaces. */
  alongside?: readonly string[];
  /** An enrolment's SMT body location; absent or "" for none. */
  bodyLocation?: string;
}

export interface PartitionHits {
  partition: number;
  hits: Hit[];
}

export interface IndexCount {
  modality: string;
  modelId: string;
  partition: number;
  templates: number;
}

/** Thrown for a request that is wrong whatever the shard's state (bad dimensions). */
export class InvalidRequest extends Error {}

const keyOf = (space: string, partition: number) => `${space}/${partition}`;

/**
 * Every (space, partition) index this shard holds, a space being a (modality, model) pair
 * (packages/common template-space.ts). Lives inside the index worker.
 */
export class IndexStore {
  readonly options: IndexOptions;
  /** Body locations of the templates held here, by space; snapshots save them beside the indexes. */
  readonly locations = new BodyLocations();
  private readonly indexes = new Map<string, { space: string; partition: number; index: PartitionIndex }>();
  /** Per modality its spaces, and per space its length: asked for every applied op, so kept rather than scanned. */
  private readonly spaces = new Map<string, Set<string>>();
  private readonly dims = new Map<string, number>();

  constructor(options: IndexOptions) {
    this.options = options;
  }

  /** The HNSW settings when the space's modality builds a graph, else undefined (exact scans only). */
  hnswFor(space: string): HnswSettings | undefined {
    return this.options.graphModalities.includes(spaceParts(space).modality) ? this.options.hnsw : undefined;
  }

  /** Each model may have its own length; one space, one length. */
  dimsOf(space: string): number | undefined {
    return this.dims.get(space);
  }

  /** The spaces of a modality held here, one per model (a space whose partitions were all dropped may stay listed, empty). */
  spacesOf(modality: string): string[] {
    return [...(this.spaces.get(modality) ?? [])];
  }

  get(space: string, partition: number): PartitionIndex | undefined {
    return this.indexes.get(keyOf(space, partition))?.index;
  }

  set(space: string, partition: number, index: PartitionIndex): void {
    this.indexes.set(keyOf(space, partition), { space, partition, index });
    const { modality } = spaceParts(space);
    let spaces = this.spaces.get(modality);
    if (!spaces) this.spaces.set(modality, (spaces = new Set()));
    spaces.add(space);
    this.dims.set(space, index.dims);
  }

  /**
   * Applies log changes in order. A template whose length differs from its modality's index is
   * skipped and reported, rather than stopping the feed for every other id. `removed` counts the
   * stored templates deleted or replaced: the current snapshot still holds them.
   */
  apply(ops: readonly ChangeOp[]): { rejected: string[]; removed: number } {
    const grouped = new Map<string, { space: string; partition: number; changes: Change[] }>();
    const change = (space: string, partition: number, c: Change) => {
      const k = keyOf(space, partition);
      let g = grouped.get(k);
      if (!g) grouped.set(k, (g = { space, partition, changes: [] }));
      g.changes.push(c);
    };
    const rejected: string[] = [];
    for (const op of ops) {
      if (op.vector === undefined) {
        for (const space of this.spacesOf(op.modality)) {
          this.locations.deleted(space, op.partition, op.id);
          change(space, op.partition, { id: op.id, vector: undefined });
        }
        continue;
      }
      const space = spaceOf(op.modality, op.modelId ?? "");
      const dims = this.dimsOf(space);
      if (dims !== undefined && op.vector.length !== dims) {
        rejected.push(op.id);
        continue;
      }
      if (dims === undefined) this.set(space, op.partition, new PartitionIndex(op.vector.length, this.hnswFor(space)));
      const kept = new Set([space, ...(op.alongside ?? []).map((m) => spaceOf(op.modality, m))]);
      for (const other of this.spacesOf(op.modality)) {
        if (kept.has(other) || !this.get(other, op.partition)?.has(op.id)) continue;
        this.locations.deleted(other, op.partition, op.id);
        change(other, op.partition, { id: op.id, vector: undefined });
      }
      this.locations.enrolled(space, op.partition, op.id, op.bodyLocation ?? "");
      change(space, op.partition, { id: op.id, vector: op.vector });
    }
    let removed = 0;
    for (const g of grouped.values()) {
      let index = this.get(g.space, g.partition);
      if (!index) {
        const dims = this.dimsOf(g.space);
        if (dims === undefined || g.changes.every((c) => c.vector === undefined)) continue; // only deletes: nothing to do
        index = new PartitionIndex(dims, this.hnswFor(g.space));
        this.set(g.space, g.partition, index);
      }
      removed += index.apply(g.changes);
    }
    return { rejected, removed };
  }

  /**
   * The space a search of `modelId` reads. "" (a caller from before model ids) means the
   * modality's only model here; with several it must be named.
   */
  spaceFor(modality: string, modelId: string): string | undefined {
    if (modelId !== "") return spaceOf(modality, modelId);
    const spaces = this.spacesOf(modality);
    if (spaces.length > 1) throw new InvalidRequest("this modality holds templates of several models: the search must name the probe's model_id");
    return spaces[0];
  }

  /**
   * Only templates of the probe's model (`modelId`); with `bodyLocations`, only templates at one of
   * them, scanned exactly whatever `exhaustive` says.
   */
  search(
    modality: string, partitions: readonly number[], query: Int8Array, k: number, exhaustive: boolean, bodyLocations: readonly string[] = [], modelId = "",
  ): PartitionHits[] {
    const space = this.spaceFor(modality, modelId);
    if (space === undefined) return partitions.map((partition) => ({ partition, hits: [] }));
    const dims = this.dimsOf(space);
    if (dims !== undefined && dims !== query.length) {
      throw new InvalidRequest(`template must have ${dims} values for this modality's model`);
    }
    if (bodyLocations.length > 0) {
      const wanted = new Set(bodyLocations);
      return partitions.map((partition) => {
        const index = this.get(space, partition);
        return { partition, hits: index ? exactAmong(index, this.locations.idsAt(space, partition, wanted), query, k) : [] };
      });
    }
    return partitions.map((partition) => ({
      partition,
      hits: this.get(space, partition)?.search(query, k, exhaustive) ?? [],
    }));
  }

  /** Ids held in one partition of a modality, whatever their model. */
  ids(modality: string, partition: number): string[] {
    const ids = new Set<string>();
    for (const space of this.spacesOf(modality)) for (const id of this.get(space, partition)?.ids() ?? []) ids.add(id);
    return [...ids];
  }

  /**
   * The modality's indexes and body locations become `from`'s (a re-index built aside, e.g. with
   * a new projection): every index of the modality held before goes, whatever its partition.
   */
  replaceModality(modality: string, from: IndexStore): void {
    const ofModality = (space: string) => spaceParts(space).modality === modality;
    for (const [k, e] of this.indexes) if (ofModality(e.space)) this.indexes.delete(k);
    for (const space of this.spaces.get(modality) ?? []) this.dims.delete(space);
    this.spaces.delete(modality);
    for (const e of from.entries()) if (ofModality(e.space)) this.set(e.space, e.partition, e.index);
    this.locations.replaceModality(ofModality, from.locations);
  }

  drop(partitions: readonly number[]): void {
    const gone = new Set(partitions);
    for (const [k, e] of this.indexes) if (gone.has(e.partition)) this.indexes.delete(k);
    this.locations.drop(gone);
    // A space left with no partition here is forgotten, its length with it (as if never seen).
    const held = new Set([...this.indexes.values()].map((e) => e.space));
    for (const [modality, spaces] of this.spaces) {
      for (const space of spaces) {
        if (held.has(space)) continue;
        spaces.delete(space);
        this.dims.delete(space);
      }
      if (spaces.size === 0) this.spaces.delete(modality);
    }
  }

  counts(): IndexCount[] {
    return [...this.indexes.values()]
      .map((e) => ({ ...spaceParts(e.space), partition: e.partition, templates: e.index.size }))
      .sort((a, b) => a.modality.localeCompare(b.modality) || a.modelId.localeCompare(b.modelId) || a.partition - b.partition);
  }

  entries(): { space: string; partition: number; index: PartitionIndex }[] {
    return [...this.indexes.values()];
  }
}
