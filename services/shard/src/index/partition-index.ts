import { closeSync, fsyncSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { HnswGraph, type GraphMeta, type HnswSettings } from "./hnsw-graph.ts";
import { IdTable } from "./id-table.ts";
import { QUANTIZATION } from "./quantize.ts";
import { Int8Rows } from "./row-store.ts";

export type { HnswSettings } from "./hnsw-graph.ts";

export interface Hit {
  id: string;
  similarity: number;
}

/** What a snapshot keeps beside the int8 rows (and the graph's file when there is one). */
interface IndexMeta {
  format: 2;
  quantization: string;
  dims: number;
  ids: readonly string[];
  graph?: GraphMeta;
}

export type Change = { id: string; vector: Int8Array } | { id: string; vector: undefined };

/**
 * One (modality, partition): the dense int8 rows every search mode and snapshot reads, their ids,
 * and, for a modality searched APPROXIMATE, an HNSW graph over the same rows. A modality searched
 * EXHAUSTIVE only (the default) builds no graph: the graph and usearch's own copy of the vectors
 * cost twice the rows' memory (bench/results/index-memory).
 */
export class PartitionIndex {
  readonly dims: number;
  private rows: Int8Rows;
  private table = new IdTable();
  private graph: HnswGraph | undefined;
  constructor(dims: number, hnsw: HnswSettings | undefined) {
    this.dims = dims;
    this.rows = new Int8Rows(dims);
    this.graph = hnsw ? new HnswGraph(dims, hnsw) : undefined;
  }

  get size(): number {
    return this.table.size;
  }

  get hasGraph(): boolean {
    return this.graph !== undefined;
  }

  /** Memory the rows hold (chunk tails included); the graph's is usearch's, not counted here. */
  get rowBytes(): number {
    return this.rows.allocatedBytes;
  }

  has(id: string): boolean {
    return this.table.rowOf(id) !== undefined;
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
    let removed = 0;
    for (const id of last.keys()) if (this.remove(id)) removed++;
    const added: { row: number; vector: Int8Array }[] = [];
    for (const [id, vector] of last) {
      if (vector === undefined) continue;
      const row = this.rows.append(vector);
      this.table.push(id);
      added.push({ row, vector });
    }
    this.graph?.commit(added);
    return removed;
  }

  /** Removes an id; the last row moves into the hole so the rows stay dense for scans. */
  private remove(id: string): boolean {
    const row = this.table.rowOf(id);
    if (row === undefined) return false;
    this.graph?.removeRow(row);
    this.graph?.moveLastInto(row);
    this.rows.moveLastInto(row);
    this.table.removeRow(row);
    return true;
  }

  /** `exhaustive` false uses the graph when this index has one; an exact scan otherwise. */
  search(query: Int8Array, k: number, exhaustive: boolean): Hit[] {
    if (query.length !== this.dims) throw new Error("query dimensions differ from the index");
    const count = Math.min(k, this.size);
    if (count === 0) return [];
    const found = !exhaustive && this.graph ? this.graph.nearest(query, count) : this.rows.nearest(query, count);
    return found.map((r) => ({ id: this.table.idAt(r.row), similarity: r.similarity }));
  }

  /** Template of an id as stored (int8), for hand-over, filtered scans and tests. */
  vectorOf(id: string): Int8Array | undefined {
    const row = this.table.rowOf(id);
    return row === undefined ? undefined : this.rows.row(row);
  }

  ids(): string[] {
    return this.table.ids();
  }

  /** Writes <base>.i8, <base>.json and, with a graph, <base>.usearch under dir, each fsynced. */
  save(dir: string, base: string): void {
    let graph: GraphMeta | undefined;
    if (this.graph) {
      const path = join(dir, `${base}.usearch`);
      graph = this.graph.save(path);
      fsyncPath(path);
    }
    const rowsPath = join(dir, `${base}.i8`);
    const fd = openSync(rowsPath, "w");
    try {
      for (const segment of this.rows.segments()) writeSync(fd, segment);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const meta: IndexMeta = { format: 2, quantization: QUANTIZATION, dims: this.dims, ids: this.table.rows(), ...(graph ? { graph } : {}) };
    writeSynced(join(dir, `${base}.json`), Buffer.from(JSON.stringify(meta)));
  }

  /**
   * Loads what save() wrote. A snapshot of another format or quantisation (older shards stored
   * int8 at a per-vector scale) is refused: the replica rebuilds it from the log, once.
   * `hnsw`: whether this modality wants a graph now; a snapshot without one cannot give it.
   */
  static load(dir: string, base: string, hnsw: HnswSettings | undefined): PartitionIndex {
    const meta = JSON.parse(readFileSync(join(dir, `${base}.json`), "utf8")) as Partial<IndexMeta>;
    if (meta.format !== 2 || meta.quantization !== QUANTIZATION || meta.ids === undefined || meta.dims === undefined) {
      throw new Error(`snapshot of ${base} has another format: rebuild from the log`);
    }
    if ((hnsw !== undefined) !== (meta.graph !== undefined)) {
      throw new Error(`snapshot of ${base} ${meta.graph ? "has" : "lacks"} an HNSW graph, the modality's mode ${hnsw ? "wants" : "does not want"} one: rebuild from the log`);
    }
    const raw = readFileSync(join(dir, `${base}.i8`));
    if (raw.length !== meta.ids.length * meta.dims) throw new Error(`snapshot files of ${base} disagree`);
    const p = new PartitionIndex(meta.dims, undefined);
    p.rows = Int8Rows.fromBytes(meta.dims, raw);
    p.table = IdTable.of(meta.ids);
    if (hnsw && meta.graph) p.graph = HnswGraph.load(join(dir, `${base}.usearch`), meta.dims, hnsw, meta.graph, meta.ids.length);
    return p;
  }
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
