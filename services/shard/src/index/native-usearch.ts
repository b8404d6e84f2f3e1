import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import type * as Usearch from "usearch";

const require = createRequire(import.meta.url);

// A static `import "usearch"` hangs inside a worker thread when tsx's loader is registered there;
// the CommonJS entry loads fine.
export const usearch = require("usearch") as typeof Usearch;

/**
 * usearch's compiled index, without its JS wrapper. The wrapper converts an Int8Array to a
 * Float32Array before every add and search, and the C++ side then re-quantises it at its own
 * fixed scale (|v|·127, truncated: 32 levels, 13 % zeros), which capped HNSW recall@10 near 93 %.
 * Handed the Int8Array itself, the binding keeps our int8 exactly (lib.cpp dispatches on the
 * typed array's type).
 */
export interface CompiledIndex {
  add(keys: BigUint64Array, vectors: Int8Array, threads: number): void;
  /** [keys, distances, counts] for each query, `k` slots per query. */
  search(queries: Int8Array, k: number, threads: number): [BigUint64Array, Float32Array, BigUint64Array];
  remove(keys: BigUint64Array): unknown;
  size(): number;
  save(path: string): void;
  load(path: string): void;
}

interface Binding {
  CompiledIndex: new (dims: number, metric: string, quantization: string, connectivity: number, expansionAdd: number, expansionSearch: number, multi: boolean) => CompiledIndex;
}

function packageRoot(): string {
  let dir = dirname(require.resolve("usearch"));
  while (!existsSync(join(dir, "prebuilds")) && !existsSync(join(dir, "build"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("usearch's native build not found");
    dir = up;
  }
  return dir;
}

let binding: Binding | undefined;

/** The same .node file the wrapper loads (node-gyp-build picks the prebuild for this platform). */
export function compiledUsearch(): Binding {
  binding ??= (require("node-gyp-build") as (dir: string) => Binding)(packageRoot());
  return binding;
}
