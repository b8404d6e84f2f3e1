// The extractor as a library, for the evaluation and the benchmarks (main.ts is the service).
export { Extractor, type Extraction, type ExtractOptions } from "./extractor.ts";
export { ExtractorEnv } from "./config.ts";
export { loadModalities, type ModalitiesConfig } from "./pipeline-config.ts";
export type { StageTimings } from "./pipeline.ts";
export { startExtractor } from "./server.ts";
