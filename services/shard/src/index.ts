// What the benchmarks share with the shard (main.ts is the service): the same int8 quantisation.
export { quantize } from "./index/quantize.ts";
// The index's parts, measured by bench/src/index-bench.ts.
export { quantizeWithInfo, QUANTIZATION } from "./index/quantize.ts";
export { Int8Rows } from "./index/row-store.ts";
export { HnswGraph, type GraphMeta, type HnswSettings } from "./index/hnsw-graph.ts";
export { PartitionIndex } from "./index/partition-index.ts";
export { IndexClient } from "./index/client.ts";
