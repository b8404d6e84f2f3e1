import { createRequire } from "node:module";
import { join } from "node:path";
import { statSync } from "node:fs";
import type * as Usearch from "usearch";
import { HnswGraph, Int8Rows, quantize, type GraphMeta, type HnswSettings } from "@taj/shard";
import { CHUNK, galleryChunks, IN_MEMORY_LIMIT } from "../dataset.ts";
import type { TemplateGenerator } from "../generator.ts";
import type { BuildProgress, Engine } from "./types.ts";

const usearch = createRequire(import.meta.url)("usearch") as typeof Usearch;

/** The shard's settings (services/shard config defaults). */
export const SHARD_HNSW = { connectivity: 16, expansion_add: 128, expansion_search: 64 } as const;

/**
 * The shard's HNSW graph in process (services/shard/src/index/hnsw-graph.ts: usearch's compiled
 * binding fed the shard's own int8, cosine, connectivity 16, expansion_add 128, expansion_search
 * 64 by default, swept upwards when tuned to a recall): the cluster without gRPC, NATS, partitions
 * or worker threads. Until issue 10 this engine, like the shard, went through usearch's JS wrapper,
 * which re-quantised the int8 (recall@10 capped near 93 %).
 */
export class UsearchHnsw implements Engine {
  readonly name = "usearch-hnsw-i8";
  readonly effortName = "expansion_search";
  /** From the shard's default up: the graph's recall is the shard's HNSW_EXPANSION_SEARCH setting. */
  readonly efforts = [64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048];
  readonly settings = { metric: "cos", quantization: "i8 (the shard's, one scale per dimension)", ...SHARD_HNSW, addThreads: "all cores", searchThreads: 1 };
  private graph: HnswGraph | undefined;
  private saved: { path: string; meta: GraphMeta; rows: number } | undefined;
  private dir = "";
  private dim = 0;
  private expansionSearch: number = SHARD_HNSW.expansion_search;

  async build(gen: TemplateGenerator, dir: string, progress?: BuildProgress): Promise<void> {
    this.dir = dir;
    this.dim = gen.dim;
    const graph = new HnswGraph(gen.dim, this.graphSettings(SHARD_HNSW.expansion_search));
    for (const { from, vectors } of galleryChunks(gen, 10_000)) {
      const added = [];
      for (let i = 0; i < vectors.length / gen.dim; i++) added.push({ row: from + i, vector: quantize(vectors.subarray(i * gen.dim, (i + 1) * gen.dim)) });
      graph.commit(added);
      progress?.(from + added.length);
    }
    this.graph = graph;
  }

  /**
   * The compiled binding takes expansion_search only when an index is made, and keeps the
   * constructor's across load(): the graph is saved once and reloaded with each new value, as the
   * shard would be restarted with another HNSW_EXPANSION_SEARCH.
   */
  setEffort(expansionSearch: number): void {
    if (expansionSearch === this.expansionSearch) return;
    if (this.saved === undefined) {
      const path = join(this.dir, "index.usearch");
      this.saved = { path, meta: this.graph!.save(path), rows: this.graph!.vectorsHeld };
    }
    const { path, meta, rows } = this.saved;
    this.graph = HnswGraph.load(path, this.dim, this.graphSettings(expansionSearch), meta, rows);
    this.expansionSearch = expansionSearch;
  }

  private graphSettings(expansionSearch: number): HnswSettings {
    return { connectivity: SHARD_HNSW.connectivity, expansionAdd: SHARD_HNSW.expansion_add, expansionSearch, threads: 0 };
  }

  search(query: Float32Array, k: number): number[] {
    return this.graph!.nearest(quantize(query), k).map((h) => h.row);
  }

  async save(dir: string): Promise<number> {
    const path = join(dir, "index.usearch");
    if (this.saved?.path !== path) this.graph!.save(path);
    return statSync(path).size;
  }
}

/**
 * The shard's EXHAUSTIVE mode in process: its int8 rows (Int8Rows: one scale per dimension, an
 * inner-product scan re-ranked by cosine, 1 thread). Exact on int8, so its recall against f32
 * shows the quantisation's cost alone.
 */
export class UsearchExhaustiveI8 implements Engine {
  readonly name = "usearch-exhaustive-i8";
  readonly efforts: number[] = [];
  readonly settings = { metric: "inner product, re-ranked by cosine", store: "int8, one scale per dimension", threads: 1 };
  private rows: Int8Rows | undefined;

  async build(gen: TemplateGenerator): Promise<void> {
    const rows = new Int8Rows(gen.dim);
    for (const { vectors } of galleryChunks(gen)) {
      for (let i = 0; i < vectors.length / gen.dim; i++) rows.append(quantize(vectors.subarray(i * gen.dim, (i + 1) * gen.dim)));
    }
    this.rows = rows;
  }

  setEffort(): void {}

  search(query: Float32Array, k: number): number[] {
    return this.rows!.nearest(quantize(query), k).map((h) => h.row);
  }

  async save(): Promise<number> {
    return this.rows!.allocatedBytes;
  }
}

/**
 * Exact f32 brute force (usearch.exactSearch, cosine, 1 thread): the ground truth. Holds the f32
 * gallery when it fits, else streams it chunk by chunk and merges (slow, but exact).
 */
export class ExactF32 implements Engine {
  readonly name = "exact-f32";
  readonly efforts: number[] = [];
  readonly settings = { metric: "cos", dtype: "f32", threads: 1 };
  private gallery: Float32Array | undefined;
  private gen: TemplateGenerator | undefined;

  constructor(private readonly streaming = { above: IN_MEMORY_LIMIT, chunk: CHUNK }) {}

  /** Only when the gallery does not fit: one pass over it for every probe (see Engine.searchAll). */
  searchAll?: (queries: Float32Array, count: number, k: number) => number[][];

  async build(gen: TemplateGenerator): Promise<void> {
    this.gen = gen;
    if (gen.size > this.streaming.above) {
      this.searchAll = (queries, count, k) => this.streamedSearchAll(queries, count, k);
      return;
    }
    const all = new Float32Array(gen.size * gen.dim);
    for (const { from, vectors } of galleryChunks(gen)) all.set(vectors, from * gen.dim);
    this.gallery = all;
  }

  setEffort(): void {}

  search(query: Float32Array, k: number): number[] {
    const gen = this.gen!;
    if (this.gallery !== undefined) {
      // usearch reads a typed array from its buffer start, ignoring a subarray's offset: copy.
      const m = usearch.exactSearch(this.gallery, query.slice(), gen.dim, k, usearch.MetricKind.Cos, 1) as Usearch.Matches;
      return Array.from(m.keys, Number);
    }
    return this.streamedSearchAll(query.slice(), 1, k)[0]!;
  }

  /**
   * Reads the gallery once (18 GB at 9 M, 35 GB at 17 M: more than the page cache) and scans every
   * chunk for all probes, keeping each probe's best k across chunks.
   */
  private streamedSearchAll(queries: Float32Array, count: number, k: number): number[][] {
    const gen = this.gen!;
    const best: { key: number; d: number }[][] = Array.from({ length: count }, () => []);
    // usearch reads a typed array from its buffer start, ignoring a subarray's offset: copy.
    const q = queries.slice(0, count * gen.dim);
    for (const { from, vectors } of galleryChunks(gen, this.streaming.chunk)) {
      const found = usearch.exactSearch(vectors, q, gen.dim, k, usearch.MetricKind.Cos, 1);
      for (let p = 0; p < count; p++) {
        const m = "counts" in found ? found.get(p) : found;
        const merged = best[p]!;
        for (let i = 0; i < m.keys.length; i++) merged.push({ key: from + Number(m.keys[i]!), d: m.distances[i]! });
        merged.sort((a, b) => a.d - b.d).length = Math.min(merged.length, k);
      }
    }
    return best.map((b) => b.map((x) => x.key));
  }

  async save(): Promise<number> {
    return (this.gen?.size ?? 0) * (this.gen?.dim ?? 0) * 4;
  }
}
