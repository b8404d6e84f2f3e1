import { availableParallelism } from "node:os";
import { commitSnapshot, newSnapshotDir } from "./snapshot.ts";
import type { ChangeOp, IndexCount, IndexOptions, PartitionHits } from "./store.ts";
import { WorkerHandle } from "./worker-handle.ts";

export { IndexWorkerError } from "./worker-handle.ts";

/**
 * Main-thread handle on the shard's index workers. Each partition lives in exactly one worker
 * (partition mod workers), so a search's partitions are scanned on several cores at once and an
 * apply's changes land in parallel. Each worker serves its requests in the order sent, so a
 * search sent after an apply sees that apply's effect, and a swap sent to every worker at once is
 * seen by every later search.
 */
export class IndexClient {
  private readonly workers: WorkerHandle[];

  /** `workers`: 0 = one per core. */
  constructor(options: IndexOptions, onFatal: (err: Error) => void = () => {}, workers = 0) {
    const count = workers > 0 ? workers : availableParallelism();
    let failed = false;
    const fatal = (err: Error) => {
      if (failed) return;
      failed = true;
      onFatal(err);
    };
    this.workers = Array.from({ length: count }, () => new WorkerHandle({ options }, fatal));
  }

  get workerCount(): number {
    return this.workers.length;
  }

  private workerOf(partition: number): WorkerHandle {
    return this.workers[partition % this.workers.length]!;
  }

  /** Splits items by the worker of their partition; only workers with items appear. */
  private byWorker<T>(items: readonly T[], partitionOf: (item: T) => number): Map<WorkerHandle, T[]> {
    const groups = new Map<WorkerHandle, T[]>();
    for (const item of items) {
      const w = this.workerOf(partitionOf(item));
      let g = groups.get(w);
      if (!g) groups.set(w, (g = []));
      g.push(item);
    }
    return groups;
  }

  /** Transfers the vectors' buffers: the ops must not be used after this call. */
  async apply(ops: ChangeOp[]): Promise<{ rejected: string[]; removed: number }> {
    const results = await Promise.all(
      [...this.byWorker(ops, (op) => op.partition)].map(([w, group]) => w.request({ op: "apply", ops: group }, transferOf(group))),
    );
    return { rejected: results.flatMap((r) => r.rejected), removed: results.reduce((n, r) => n + r.removed, 0) };
  }

  /**
   * Templates of the probe's model only (`modelId`; "" = the modality's only one); with
   * `bodyLocations` (SMT codes), only templates at one of them, scanned exactly. Results in `partitions` order.
   */
  async search(
    modality: string, partitions: number[], query: Int8Array, k: number, exhaustive: boolean, bodyLocations: string[] = [], modelId = "",
  ): Promise<PartitionHits[]> {
    const replies = await Promise.all(
      [...this.byWorker(partitions, (p) => p)].map(([w, group]) => w.request({ op: "search", modality, modelId, partitions: group, query, k, exhaustive, bodyLocations })),
    );
    const byPartition = new Map(replies.flatMap((r) => r.results).map((r) => [r.partition, r]));
    return partitions.map((p) => byPartition.get(p) ?? { partition: p, hits: [] });
  }

  async drop(partitions: number[]): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request({ op: "drop", partitions })));
  }

  async counts(): Promise<IndexCount[]> {
    const all = (await Promise.all(this.workers.map((w) => w.request({ op: "counts" })))).flatMap((r) => r.counts);
    return all.sort((a, b) => a.modality.localeCompare(b.modality) || a.modelId.localeCompare(b.modelId) || a.partition - b.partition);
  }

  /** Ids held in one partition of a modality (empty when it holds none). */
  async ids(modality: string, partition: number): Promise<string[]> {
    return (await this.workerOf(partition).request({ op: "ids", modality, partition })).ids;
  }

  /** `projections`: the version each modality's indexes hold (absent: raw), recorded in the manifest. */
  async snapshot(dataDir: string, sequences: Record<number, number>, projections: Record<string, number> = {}): Promise<{ dir: string; templates: number }> {
    const { dirName, dir } = newSnapshotDir(dataDir);
    const parts = await Promise.all(this.workers.map((w, part) => w.request({ op: "saveIndexes", dir, sequences, part })));
    return commitSnapshot(dataDir, dirName, parts.flatMap((p) => p.indexes), sequences, projections);
  }

  /**
   * Refuses (throws) a snapshot whose projection versions differ from `projections`. All or
   * nothing: when one worker cannot load its part, the others' are dropped again.
   */
  async load(dataDir: string, partitions: number[], projections: Record<string, number> = {}): Promise<{ found: boolean; sequences: Map<number, number>; templates: number }> {
    // Every worker is asked, even with no partition to load, so each one says whether there is a snapshot.
    const groups = this.workers.map((w) => ({ w, partitions: partitions.filter((p) => this.workerOf(p) === w) }));
    const replies = await Promise.allSettled(groups.map(({ w, partitions: own }) => w.request({ op: "load", dataDir, partitions: own, projections })));
    const failure = replies.find((r) => r.status === "rejected");
    if (failure) {
      await this.drop(partitions);
      throw failure.reason;
    }
    const loaded = replies.map((r) => (r as PromiseFulfilledResult<{ found: boolean; sequences: [number, number][]; templates: number }>).value);
    return {
      found: loaded.some((r) => r.found),
      sequences: new Map(loaded.flatMap((r) => r.sequences)),
      templates: loaded.reduce((n, r) => n + r.templates, 0),
    };
  }

  /** Applies changes to the modality's staging indexes (ops of other modalities are ignored). Transfers the vectors' buffers. */
  async stageApply(modality: string, ops: ChangeOp[]): Promise<{ rejected: string[]; removed: number }> {
    const results = await Promise.all(
      [...this.byWorker(ops, (op) => op.partition)].map(([w, group]) => w.request({ op: "stageApply", modality, ops: group }, transferOf(group))),
    );
    return { rejected: results.flatMap((r) => r.rejected), removed: results.reduce((n, r) => n + r.removed, 0) };
  }

  /**
   * The staging indexes replace the modality's. Searches sent before this call are answered from
   * the old indexes, searches sent after from the new (each worker serves requests in order, and
   * the swap is sent to every worker before this returns to the event loop).
   */
  async stageSwap(modality: string): Promise<{ templates: number }> {
    const r = await Promise.all(this.workers.map((w) => w.request({ op: "stageSwap", modality })));
    return { templates: r.reduce((n, x) => n + x.templates, 0) };
  }

  async stageDrop(modality: string): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request({ op: "stageDrop", modality })));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

function transferOf(ops: readonly ChangeOp[]): ArrayBuffer[] {
  const transfer: ArrayBuffer[] = [];
  for (const op of ops) if (op.vector && op.vector.byteLength === op.vector.buffer.byteLength) transfer.push(op.vector.buffer as ArrayBuffer);
  return transfer;
}
