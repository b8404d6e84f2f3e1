import type { HnswSettings } from "./partition-index.ts";
import type { ChangeOp, IndexCount, PartitionHits } from "./store.ts";

/** Messages between the main thread and the index worker; every request gets one reply with its id. */
export type WorkerRequest =
  | { op: "apply"; ops: ChangeOp[] }
  | { op: "search"; modality: string; partitions: number[]; query: Int8Array; k: number; exhaustive: boolean; bodyLocations: string[] }
  | { op: "drop"; partitions: number[] }
  | { op: "counts" }
  | { op: "ids"; modality: string; partition: number }
  | { op: "snapshot"; dataDir: string; sequences: Record<number, number>; projections: Record<string, number> }
  | { op: "load"; dataDir: string; partitions: number[]; projections: Record<string, number> }
  // A modality re-indexed aside (staging.ts): built, then swapped in, or dropped.
  | { op: "stageApply"; modality: string; ops: ChangeOp[] }
  | { op: "stageSwap"; modality: string }
  | { op: "stageDrop"; modality: string };

export interface WorkerResults {
  apply: { rejected: string[]; removed: number };
  search: { results: PartitionHits[] };
  drop: Record<string, never>;
  counts: { counts: IndexCount[] };
  ids: { ids: string[] };
  snapshot: { dir: string; templates: number };
  load: { found: boolean; sequences: [number, number][]; templates: number };
  stageApply: { rejected: string[]; removed: number };
  stageSwap: { templates: number };
  stageDrop: Record<string, never>;
}

export type WorkerReply =
  | { id: number; ok: true; result: WorkerResults[keyof WorkerResults] }
  | { id: number; ok: false; invalid: boolean; message: string };

export interface WorkerInit {
  hnsw: HnswSettings;
}
