import * as lancedb from "@lancedb/lancedb";
import { Field, FixedSizeList, Float32, Int32, Schema } from "apache-arrow";
import { galleryChunks } from "../dataset.ts";
import type { TemplateGenerator } from "../generator.ts";
import { SHARD_HNSW } from "./usearch.ts";
import { dirBytes } from "./disk.ts";
import type { BuildProgress, Engine } from "./types.ts";

/** LanceDB's own default index cache (its Session docs). */
const DEFAULT_INDEX_CACHE_BYTES = 6 * 2 ** 30;
/** One IVF_HNSW_SQ partition took ~750 B per template on disk at 9 M; loaded it needs more (1 536 B/template was not enough to keep it). */
const INDEX_CACHE_BYTES_PER_TEMPLATE = 3_072;

/**
 * The index cache holds whole IVF partitions. With one partition over 9 M (6.3 GB) the default
 * 6 GB cache cannot keep it, and every search re-read the whole partition (minutes per search),
 * so the cache is sized to the table. It is a cap, filled only by what searches load.
 */
function connectFor(dir: string, size: number): Promise<lancedb.Connection> {
  const indexCacheBytes = Math.max(DEFAULT_INDEX_CACHE_BYTES, size * INDEX_CACHE_BYTES_PER_TEMPLATE);
  // The options-object form: @lancedb/lancedb 0.37.1's connect(uri, options, session) drops the session.
  return lancedb.connect({ uri: dir, session: new lancedb.Session(BigInt(indexCacheBytes), undefined) });
}

/**
 * LanceDB embedded with its HNSW + scalar-quantisation index (IVF_HNSW_SQ with one IVF
 * partition, m 16, ef_construction 128, cosine): the closest of its index types to usearch i8.
 * Its one graph is built on all cores; at 9 M that takes longer than this machine's sessions.
 */
export class LancedbEngine implements Engine {
  readonly name = "lancedb";
  readonly effortName = "ef";
  readonly efforts = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096];
  readonly settings = { index: "IVF_HNSW_SQ", numPartitions: 1, m: SHARD_HNSW.connectivity, efConstruction: SHARD_HNSW.expansion_add, distance: "cosine" };
  private table: lancedb.Table | undefined;
  private ef = 64;
  private dir = "";

  async build(gen: TemplateGenerator, dir: string, progress?: BuildProgress): Promise<void> {
    this.dir = dir;
    const db = await connectFor(dir, gen.size);
    const schema = new Schema([
      new Field("id", new Int32(), false),
      new Field("vector", new FixedSizeList(gen.dim, new Field("item", new Float32(), true)), false),
    ]);
    const table = await db.createEmptyTable("templates", schema);
    for (const { from, vectors } of galleryChunks(gen)) {
      const n = vectors.length / gen.dim;
      const rows = Array.from({ length: n }, (_, i) => ({ id: from + i, vector: Array.from(vectors.subarray(i * gen.dim, (i + 1) * gen.dim)) }));
      await table.add(rows);
      progress?.(from + n);
    }
    progress?.(gen.size, "index");
    await table.createIndex("vector", {
      config: lancedb.Index.hnswSq({ distanceType: "cosine", numPartitions: 1, m: SHARD_HNSW.connectivity, efConstruction: SHARD_HNSW.expansion_add }),
    });
    this.table = table;
  }

  /** Opens a table this engine built earlier under dir (a run stopped after the build). */
  async open(dir: string, size: number): Promise<void> {
    this.dir = dir;
    this.table = await (await connectFor(dir, size)).openTable("templates");
  }

  setEffort(ef: number): void {
    this.ef = ef;
  }

  async search(query: Float32Array, k: number): Promise<number[]> {
    const rows = await this.table!.vectorSearch(Array.from(query)).distanceType("cosine").ef(this.ef).limit(k).select(["id", "_distance"]).toArray();
    return rows.map((r: { id: number }) => r.id);
  }

  async save(): Promise<number> {
    return dirBytes(this.dir);
  }
}
