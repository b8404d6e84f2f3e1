import { createRequire } from "node:module";
import { join } from "node:path";
import { statSync } from "node:fs";
import type * as Usearch from "usearch";
import { quantize } from "@taj/shard";
import { CHUNK, galleryChunks, IN_MEMORY_LIMIT } from "../dataset.ts";
import type { TemplateGenerator } from "../generator.ts";
import type { Engine } from "./types.ts";

const usearch = createRequire(import.meta.url)("usearch") as typeof Usearch;

/** The shard's settings (services/shard config defaults). */
export const SHARD_HNSW = { connectivity: 16, expansion_add: 128, expansion_search: 64 } as const;

/**
 * A raw in-process usearch index with exactly the shard's settings and input (cosine, i8 with the
 * shard's per-vector scale, connectivity 16, expansion_add 128, expansion_search 64): the
 * cluster without gRPC, NATS, partitions or worker threads.
 */
export class UsearchHnsw implements Engine {
  readonly name = "usearch-hnsw-i8";
  readonly efforts: number[] = [];
  readonly settings = { metric: "cos", quantization: "i8", ...SHARD_HNSW, addThreads: "all cores", searchThreads: 1 };
  private index: Usearch.Index | undefined;

  async build(gen: TemplateGenerator): Promise<void> {
    const index = new usearch.Index({
      dimensions: gen.dim,
      metric: usearch.MetricKind.Cos,
      quantization: usearch.ScalarKind.I8,
      connectivity: SHARD_HNSW.connectivity,
      expansion_add: SHARD_HNSW.expansion_add,
      expansion_search: SHARD_HNSW.expansion_search,
      multi: false,
    });
    for (const { from, vectors } of galleryChunks(gen, 10_000)) {
      const n = vectors.length / gen.dim;
      const keys = new BigUint64Array(n);
      const flat = new Int8Array(vectors.length);
      for (let i = 0; i < n; i++) {
        keys[i] = BigInt(from + i);
        flat.set(quantize(vectors.subarray(i * gen.dim, (i + 1) * gen.dim)), i * gen.dim);
      }
      index.add(keys, flat, 0);
    }
    this.index = index;
  }

  setEffort(): void {}

  search(query: Float32Array, k: number): number[] {
    const m = this.index!.search(quantize(query), k, 1) as Usearch.Matches;
    return Array.from(m.keys, Number);
  }

  async save(dir: string): Promise<number> {
    const path = join(dir, "index.usearch");
    this.index!.save(path);
    return statSync(path).size;
  }
}

/**
 * The shard's EXHAUSTIVE mode in process: usearch.exactSearch over the dense int8 store
 * (cosine, 1 thread). Exact on int8, so its recall against f32 shows the quantisation's cost alone.
 */
export class UsearchExhaustiveI8 implements Engine {
  readonly name = "usearch-exhaustive-i8";
  readonly efforts: number[] = [];
  readonly settings = { metric: "cos", store: "int8, per-vector scale", threads: 1 };
  private store: Int8Array | undefined;
  private dim = 0;

  async build(gen: TemplateGenerator): Promise<void> {
    if (gen.size > IN_MEMORY_LIMIT * 4) throw new Error("exhaustive int8 store above 8 M templates is not run in process");
    this.dim = gen.dim;
    const store = new Int8Array(gen.size * gen.dim);
    for (const { from, vectors } of galleryChunks(gen)) {
      const n = vectors.length / gen.dim;
      for (let i = 0; i < n; i++) store.set(quantize(vectors.subarray(i * gen.dim, (i + 1) * gen.dim)), (from + i) * gen.dim);
    }
    this.store = store;
  }

  setEffort(): void {}

  search(query: Float32Array, k: number): number[] {
    const m = usearch.exactSearch(this.store!, quantize(query), this.dim, k, usearch.MetricKind.Cos, 1) as Usearch.Matches;
    return Array.from(m.keys, Number);
  }

  async save(): Promise<number> {
    return this.store!.byteLength;
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
