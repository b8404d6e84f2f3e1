import { getRandomValues } from "node:crypto";
import { compiledUsearch, type CompiledIndex } from "./native-usearch.ts";
import type { ScoredRow } from "./row-store.ts";

export interface HnswSettings {
  connectivity: number;
  expansionAdd: number;
  expansionSearch: number;
  /** usearch threads for batch adds (0 = all cores). */
  threads: number;
}

/** What a snapshot keeps of the graph beside usearch's own file. */
export interface GraphMeta {
  nextKey: number;
  /** The usearch key of each row, in row order. */
  keys: number[];
  /** usearch keys holding filler vectors. */
  ghosts: number[];
}

/**
 * The HNSW graph over a partition's rows (modalities searched APPROXIMATE only), fed with the
 * rows' own int8 through usearch's compiled binding (native-usearch.ts). Rows map to fresh keys
 * on every write, so a replace is remove(old key) + add(new key) and never reuses a tombstoned key.
 *
 * usearch's remove() only marks a slot free: the vector stays in the slot, and save() writes it,
 * until an add reuses the slot (free slots are reused first in, first out). So a removed template
 * would survive in every later snapshot. To keep deletion real, no slot is ever left free between
 * two batches: each freed slot is taken by the next add, or else by a "ghost" (a random filler
 * vector under a key that maps to no row, so searches never return it). Later adds recycle ghosts.
 */
export class HnswGraph {
  private readonly index: CompiledIndex;
  private readonly settings: HnswSettings;
  private readonly dims: number;
  private keyOfRow: number[] = [];
  private rowOfKey = new Map<number, number>();
  private ghosts: number[] = [];
  private nextKey = 1;
  private freed = 0;

  constructor(dims: number, settings: HnswSettings) {
    this.dims = dims;
    this.settings = settings;
    const { CompiledIndex } = compiledUsearch();
    this.index = new CompiledIndex(dims, "cos", "i8", settings.connectivity, settings.expansionAdd, settings.expansionSearch, false);
  }

  get vectorsHeld(): number {
    return this.index.size();
  }

  /** The row's vector leaves the graph; its slot is refilled by the next commit. */
  removeRow(row: number): void {
    const key = this.keyOfRow[row]!;
    this.index.remove(new BigUint64Array([BigInt(key)]));
    this.rowOfKey.delete(key);
    this.freed++;
  }

  /** The last row moved into `row` (rows stay dense); call after removeRow(row). */
  moveLastInto(row: number): void {
    const last = this.keyOfRow.length - 1;
    if (row !== last) {
      const key = this.keyOfRow[last]!;
      this.keyOfRow[row] = key;
      this.rowOfKey.set(key, row);
    }
    this.keyOfRow.pop();
  }

  /** Adds the rows appended since the last commit (rows in order) and refills every freed slot. */
  commit(added: { row: number; vector: Int8Array }[]): void {
    while (this.freed < added.length && this.ghosts.length > 0) {
      this.index.remove(new BigUint64Array([BigInt(this.ghosts.pop()!)]));
      this.freed++;
    }
    if (added.length > 0) {
      const keys = new BigUint64Array(added.length);
      const flat = new Int8Array(added.length * this.dims);
      added.forEach(({ row, vector }, i) => {
        if (row !== this.keyOfRow.length) throw new Error("graph rows must be committed in order");
        const key = this.nextKey++;
        keys[i] = BigInt(key);
        flat.set(vector, i * this.dims);
        this.keyOfRow.push(key);
        this.rowOfKey.set(key, row);
      });
      this.index.add(keys, flat, this.settings.threads);
    }
    if (this.freed > added.length) this.fillWithGhosts(this.freed - added.length);
    this.freed = 0;
  }

  private fillWithGhosts(count: number): void {
    const keys = new BigUint64Array(count);
    const flat = getRandomValues(new Int8Array(count * this.dims));
    for (let i = 0; i < count; i++) {
      const key = this.nextKey++;
      keys[i] = BigInt(key);
      this.ghosts.push(key);
    }
    this.index.add(keys, flat, this.settings.threads);
  }

  nearest(query: Int8Array, k: number): ScoredRow[] {
    // A few more than asked, so ghosts among the nearest (rare: they are random) leave room.
    const [keys, distances, counts] = this.index.search(query, k + Math.min(this.ghosts.length, k), 1);
    const hits: ScoredRow[] = [];
    for (let i = 0; i < Number(counts[0] ?? 0n) && hits.length < k; i++) {
      const row = this.rowOfKey.get(Number(keys[i]!));
      if (row !== undefined) hits.push({ row, similarity: 1 - distances[i]! });
    }
    return hits;
  }

  save(path: string): GraphMeta {
    this.index.save(path);
    return { nextKey: this.nextKey, keys: this.keyOfRow, ghosts: this.ghosts };
  }

  static load(path: string, dims: number, settings: HnswSettings, meta: GraphMeta, rows: number): HnswGraph {
    if (meta.keys.length !== rows) throw new Error("graph keys and rows disagree");
    const g = new HnswGraph(dims, settings);
    g.index.load(path);
    if (g.index.size() < rows) throw new Error("usearch file holds fewer vectors than the rows");
    g.keyOfRow = [...meta.keys];
    g.keyOfRow.forEach((key, row) => g.rowOfKey.set(key, row));
    g.ghosts = [...meta.ghosts];
    g.nextKey = meta.nextKey;
    return g;
  }
}
