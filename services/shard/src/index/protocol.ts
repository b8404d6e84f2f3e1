import type { SnapshotEntry } from "./snapshot.ts";
import type { ChangeOp, IndexCount, IndexOptions, PartitionHits } from "./store.ts";

/** Messages between the main thread and the index worker; every request gets one reply with its id. */
export type WorkerRequest =
  | { op: "apply"; ops: ChangeOp[] }
  | { op: "search"; modality: string; modelId: string; partitions: number[]; query: Int8Array; k: number; exhaustive: boolean; bodyLocations: string[] }
  | { op: "drop"; partitions: number[] }
  | { op: "counts" }
  | { op: "ids"; modality: string; partition: number }
  // Writes this worker's indexes into a snapshot directory the main thread then commits (snapshot.ts).
  | { op: "saveIndexes"; dir: string; sequences: Record<number, number>; part: number }
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
  saveIndexes: { indexes: SnapshotEntry[] };
  load: { found: boolean; sequences: [number, number][]; templates: number };
  stageApply: { rejected: string[]; removed: number };
  stageSwap: { templates: number };
  stageDrop: Record<string, never>;
}

export type WorkerReply =
  | { id: number; ok: true; result: WorkerResults[keyof WorkerResults] }
  | { id: number; ok: false; invalid: boolean; message: string };

export interface WorkerInit {
  options: IndexOptions;
}
