import { join } from "node:path";
import { statSync } from "node:fs";
import { createRequire } from "node:module";
import type * as Hnswlib from "hnswlib-node";
import { galleryChunks } from "../dataset.ts";
import type { TemplateGenerator } from "../generator.ts";
import { SHARD_HNSW } from "./usearch.ts";
import type { BuildProgress, Engine } from "./types.ts";

const hnswlib = createRequire(import.meta.url)("hnswlib-node") as typeof Hnswlib;

/** hnswlib-node (f32, cosine, M 16, ef_construction 128: the shard's graph settings); one thread. */
export class HnswlibEngine implements Engine {
  readonly name = "hnswlib-node";
  readonly effortName = "ef";
  readonly efforts = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024];
  readonly settings = { space: "cosine", dtype: "f32", M: SHARD_HNSW.connectivity, efConstruction: SHARD_HNSW.expansion_add, threads: 1 };
  private index: Hnswlib.HierarchicalNSW | undefined;

  async build(gen: TemplateGenerator, _dir: string, progress?: BuildProgress): Promise<void> {
    const index = new hnswlib.HierarchicalNSW("cosine", gen.dim);
    index.initIndex(gen.size, SHARD_HNSW.connectivity, SHARD_HNSW.expansion_add, 100);
    for (const { from, vectors } of galleryChunks(gen)) {
      const n = vectors.length / gen.dim;
      for (let i = 0; i < n; i++) index.addPoint(Array.from(vectors.subarray(i * gen.dim, (i + 1) * gen.dim)), from + i);
      progress?.(from + n);
    }
    this.index = index;
  }

  setEffort(ef: number): void {
    this.index!.setEf(ef);
  }

  search(query: Float32Array, k: number): number[] {
    return this.index!.searchKnn(Array.from(query), k).neighbors;
  }

  async save(dir: string): Promise<number> {
    const path = join(dir, "index.hnsw");
    await this.index!.writeIndex(path);
    return statSync(path).size;
  }
}
