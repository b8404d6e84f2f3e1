import { getRandomValues } from "node:crypto";
import { createRequire } from "node:module";
import { closeSync, fsyncSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type * as Usearch from "usearch";

// A static `import "usearch"` hangs inside a worker thread when tsx's loader is registered there;
// the CommonJS entry loads fine.
const usearch = createRequire(import.meta.url)("usearch") as typeof Usearch;

export interface HnswSettings {
  connectivity: number;
  expansionAdd: number;
  expansionSearch: number;
  /** usearch threads for batch adds (0 = all cores). */
  threads: number;
}

export interface Hit {
  id: string;
  similarity: number;
}

/** What a snapshot keeps beside the usearch file: the id<->key map and the int8 templates. */
interface IndexMeta {
  dims: number;
  nextKey: number;
  ids: string[];
  keys: number[];
  /** usearch keys holding filler vectors (absent in snapshots written before they existed: refused). */
  ghosts?: number[];
}

export type Change = { id: string; vector: Int8Array } | { id: string; vector: undefined };

/**
 * One (modality, partition): a usearch HNSW index plus our own dense copy of the int8 templates.
 * usearch cannot hand vectors back, so the copy is what the exhaustive scan reads, what a
 * snapshot saves, and what a partition hand-over would send. Ids map to fresh bigint keys on
 * every write, so a replace is remove(old key) + add(new key) and never reuses a tombstoned key.
 *
 * usearch's remove() only marks a slot free: the vector stays in the slot, and save() writes it,
 * until an add reuses the slot (free slots are reused first in, first out). So a removed template
 * would survive in every later snapshot. To keep deletion real, no slot is ever left free between
 * two calls: each freed slot is taken by the next add, or else by a "ghost" (a random filler
 * vector under a key that maps to no id, so searches never return it). Later adds recycle ghosts.
 */
export class PartitionIndex {
  readonly dims: number;
  private readonly hnsw: HnswSettings;
  private index: Usearch.Index;
  private vectors: Int8Array;
  private readonly slotIds: string[] = [];
  private readonly slotKeys: number[] = [];
  private readonly slotOf = new Map<string, number>();
  private readonly keyToId = new Map<number, string>();
  private nextKey = 1;
  private ghosts: number[] = [];

  constructor(dims: number, hnsw: HnswSettings) {
    this.dims = dims;
    this.hnsw = hnsw;
    this.index = newIndex(dims, hnsw);
    this.vectors = new Int8Array(dims * 64);
  }

  get size(): number {
    return this.slotIds.length;
  }

  has(id: string): boolean {
    return this.slotOf.has(id);
  }

  /**
   * Applies changes in order; within one call only the last change of an id matters. Returns how
   * many stored templates were removed or replaced (what an older snapshot still holds).
   */
  apply(changes: readonly Change[]): number {
    const last = new Map<string, Int8Array | undefined>();
    for (const c of changes) {
      if (c.vector !== undefined && c.vector.length !== this.dims) {
        throw new Error(`template of ${c.vector.length} values for an index of ${this.dims}`);
      }
      last.delete(c.id); // keep insertion order = order of the last change
      last.set(c.id, c.vector);
    }
    const addIds: string[] = [];
    let freed = 0;
    for (const [id, vector] of last) {
      if (this.remove(id)) freed++;
      if (vector !== undefined) addIds.push(id);
    }
    const removed = freed;
    // Adds beyond the slots just freed take ghosts' slots rather than new ones.
    while (freed < addIds.length && this.ghosts.length > 0) {
      this.index.remove(BigInt(this.ghosts.pop()!));
      freed++;
    }
    if (addIds.length > 0) this.addToIndex(addIds, last);
    if (freed > addIds.length) this.fillWithGhosts(freed - addIds.length);
    return removed;
  }

  private addToIndex(addIds: string[], last: Map<string, Int8Array | undefined>): void {
    const keys = new BigUint64Array(addIds.length);
    const flat = new Int8Array(addIds.length * this.dims);
    addIds.forEach((id, i) => {
      const vector = last.get(id)!;
      const key = this.nextKey++;
      keys[i] = BigInt(key);
      flat.set(vector, i * this.dims);
      this.store(id, key, vector);
    });
    this.index.add(keys, flat, this.hnsw.threads);
  }

  /** Overwrites the slots left free with random vectors (see the class comment). */
  private fillWithGhosts(count: number): void {
    const keys = new BigUint64Array(count);
    const flat = getRandomValues(new Int8Array(count * this.dims));
    for (let i = 0; i < count; i++) {
      const key = this.nextKey++;
      keys[i] = BigInt(key);
      this.ghosts.push(key);
    }
    this.index.add(keys, flat, this.hnsw.threads);
  }

  private store(id: string, key: number, vector: Int8Array): void {
    const slot = this.slotIds.length;
    if ((slot + 1) * this.dims > this.vectors.length) {
      const grown = new Int8Array(Math.max(this.vectors.length * 2, (slot + 1) * this.dims));
      grown.set(this.vectors);
      this.vectors = grown;
    }
    this.vectors.set(vector, slot * this.dims);
    this.slotIds.push(id);
    this.slotKeys.push(key);
    this.slotOf.set(id, slot);
    this.keyToId.set(key, id);
  }

  /** Removes an id; the last slot moves into the hole so the int8 store stays dense for scans. */
  private remove(id: string): boolean {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return false;
    const key = this.slotKeys[slot]!;
    this.index.remove(BigInt(key));
    this.keyToId.delete(key);
    this.slotOf.delete(id);
    const lastSlot = this.slotIds.length - 1;
    if (slot !== lastSlot) {
      const movedId = this.slotIds[lastSlot]!;
      this.slotIds[slot] = movedId;
      this.slotKeys[slot] = this.slotKeys[lastSlot]!;
      this.slotOf.set(movedId, slot);
      this.vectors.copyWithin(slot * this.dims, lastSlot * this.dims, (lastSlot + 1) * this.dims);
    }
    this.slotIds.pop();
    this.slotKeys.pop();
    return true;
  }

  search(query: Int8Array, k: number, exhaustive: boolean): Hit[] {
    if (query.length !== this.dims) throw new Error("query dimensions differ from the index");
    const n = this.slotIds.length;
    const count = Math.min(k, n);
    if (count === 0) return [];
    const hits: Hit[] = [];
    if (exhaustive) {
      // exactSearch's keys are row numbers of the dataset, i.e. our slots.
      const m = usearch.exactSearch(this.vectors.subarray(0, n * this.dims), query, this.dims, count, usearch.MetricKind.Cos, 1) as Usearch.Matches;
      for (let i = 0; i < m.keys.length; i++) {
        const id = this.slotIds[Number(m.keys[i]!)];
        if (id !== undefined) hits.push({ id, similarity: 1 - m.distances[i]! });
      }
    } else {
      // A few more than asked, so ghosts among the nearest (rare: they are random) leave room.
      const m = this.index.search(query, count + Math.min(this.ghosts.length, count), 1);
      for (let i = 0; i < m.keys.length && hits.length < count; i++) {
        const id = this.keyToId.get(Number(m.keys[i]!));
        if (id !== undefined) hits.push({ id, similarity: 1 - m.distances[i]! });
      }
    }
    return hits;
  }

  /** Template of an id as stored (int8), for hand-over and tests. */
  vectorOf(id: string): Int8Array | undefined {
    const slot = this.slotOf.get(id);
    return slot === undefined ? undefined : this.vectors.slice(slot * this.dims, (slot + 1) * this.dims);
  }

  ids(): string[] {
    return [...this.slotIds];
  }

  /** Writes <base>.usearch, <base>.i8 and <base>.json under dir, each fsynced. */
  save(dir: string, base: string): void {
    const indexPath = join(dir, `${base}.usearch`);
    this.index.save(indexPath);
    fsyncPath(indexPath);
    writeSynced(join(dir, `${base}.i8`), this.vectors.subarray(0, this.slotIds.length * this.dims));
    const meta: IndexMeta = { dims: this.dims, nextKey: this.nextKey, ids: this.slotIds, keys: this.slotKeys, ghosts: this.ghosts };
    writeSynced(join(dir, `${base}.json`), Buffer.from(JSON.stringify(meta)));
  }

  static load(dir: string, base: string, hnsw: HnswSettings): PartitionIndex {
    const meta = JSON.parse(readFileSync(join(dir, `${base}.json`), "utf8")) as IndexMeta;
    const raw = readFileSync(join(dir, `${base}.i8`));
    if (meta.ids.length !== meta.keys.length || raw.length !== meta.ids.length * meta.dims) {
      throw new Error(`snapshot files of ${base} disagree`);
    }
    // A snapshot from before ghosts may hold free slots: they keep removed templates, and usearch
    // 2.25.3 corrupts its heap when adding to an index loaded with free slots (measured: the
    // process aborts). Refused, so the replica rebuilds from the log (once, at the upgrade).
    if (meta.ghosts === undefined) throw new Error(`snapshot of ${base} predates ghosts: rebuild from the log`);
    const p = new PartitionIndex(meta.dims, hnsw);
    p.index.load(join(dir, `${base}.usearch`));
    if (p.index.size() < meta.ids.length) throw new Error(`usearch file of ${base} holds fewer vectors than its map`);
    p.vectors = new Int8Array(raw.buffer, raw.byteOffset, raw.length).slice();
    meta.ids.forEach((id, slot) => {
      const key = meta.keys[slot]!;
      p.slotIds.push(id);
      p.slotKeys.push(key);
      p.slotOf.set(id, slot);
      p.keyToId.set(key, id);
    });
    p.nextKey = meta.nextKey;
    p.ghosts = meta.ghosts;
    return p;
  }
}

function newIndex(dims: number, hnsw: HnswSettings): Usearch.Index {
  return new usearch.Index({
    dimensions: dims,
    metric: usearch.MetricKind.Cos,
    quantization: usearch.ScalarKind.I8,
    connectivity: hnsw.connectivity,
    expansion_add: hnsw.expansionAdd,
    expansion_search: hnsw.expansionSearch,
    multi: false,
  });
}

export function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeSynced(path: string, data: Uint8Array | Int8Array): void {
  writeFileSync(path, data);
  fsyncPath(path);
}
