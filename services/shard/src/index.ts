// What the benchmarks share with the shard (main.ts is the service): the same int8 quantisation.
export { quantize } from "./index/quantize.ts";
