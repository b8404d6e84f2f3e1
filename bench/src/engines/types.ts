import type { TemplateGenerator } from "../generator.ts";

/** One vector-search implementation under test, fed the same gallery and probes. */
export interface Engine {
  readonly name: string;
  readonly settings: Record<string, unknown>;
  /** Search-effort values to try, in increasing order of recall (empty: nothing to tune). */
  readonly efforts: readonly number[];
  /** The knob's name in the engine's own terms ("ef", "expansion_search"). */
  readonly effortName?: string;
  /**
   * progress, when given, is told how many templates are in after each chunk: a build stopped by
   * the time limit then still leaves a measured insertion rate behind.
   */
  build(gen: TemplateGenerator, dir: string, progress?: BuildProgress): Promise<void>;
  setEffort(effort: number): void;
  /** Gallery indexes of the best k, best first. */
  search(query: Float32Array, k: number): Promise<number[]> | number[];
  /**
   * Set when one search at a time would be unreasonably slow (the gallery is streamed from disk per
   * search): all probes in one pass instead. The per-search time it reports is then amortised.
   */
  searchAll?(queries: Float32Array, count: number, k: number): number[][];
  /** Persists the index under dir and returns the bytes it takes there. */
  save(dir: string): Promise<number>;
}

/** Templates added so far; phase names a build step that follows the inserts (an index pass). */
export type BuildProgress = (templatesAdded: number, phase?: "insert" | "index") => void;
