import { Worker } from "node:worker_threads";
import type { HnswSettings } from "./partition-index.ts";
import type { ChangeOp, IndexCount, PartitionHits } from "./store.ts";
import type { WorkerInit, WorkerReply, WorkerRequest, WorkerResults } from "./protocol.ts";

export class IndexWorkerError extends Error {
  readonly invalid: boolean;
  constructor(message: string, invalid: boolean) {
    super(message);
    this.invalid = invalid;
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/**
 * Main-thread handle on the index worker. Requests are served in the order sent, so a search
 * sent after an apply sees that apply's effect.
 */
export class IndexClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;

  constructor(hnsw: HnswSettings, onFatal: (err: Error) => void = () => {}) {
    const url = new URL("./worker.ts", import.meta.url).href;
    const tsx = import.meta.resolve("tsx/esm/api");
    // Node 20 does not pass `--import tsx` hooks to workers: register tsx there, then load the .ts entry.
    const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`;
    const init: WorkerInit = { hnsw };
    this.worker = new Worker(boot, { eval: true, execArgv: [], workerData: init });
    this.worker.on("message", (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(new IndexWorkerError(reply.message, reply.invalid));
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      onFatal(err);
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => {
      if (!this.failure) fail(new Error(`index worker exited with code ${code}`));
    });
  }

  private request<K extends WorkerRequest["op"]>(req: Extract<WorkerRequest, { op: K }>, transfer: ArrayBuffer[] = []): Promise<WorkerResults[K]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, req }, transfer);
    });
  }

  /** Transfers the vectors' buffers: the ops must not be used after this call. */
  apply(ops: ChangeOp[]): Promise<{ rejected: string[]; removed: number }> {
    const transfer: ArrayBuffer[] = [];
    for (const op of ops) if (op.vector && op.vector.byteLength === op.vector.buffer.byteLength) transfer.push(op.vector.buffer as ArrayBuffer);
    return this.request({ op: "apply", ops }, transfer);
  }

  /** With `bodyLocations` (SMT codes), only templates at one of them, scanned exactly. */
  async search(modality: string, partitions: number[], query: Int8Array, k: number, exhaustive: boolean, bodyLocations: string[] = []): Promise<PartitionHits[]> {
    return (await this.request({ op: "search", modality, partitions, query, k, exhaustive, bodyLocations })).results;
  }

  async drop(partitions: number[]): Promise<void> {
    await this.request({ op: "drop", partitions });
  }

  async counts(): Promise<IndexCount[]> {
    return (await this.request({ op: "counts" })).counts;
  }

  /** Ids held in one partition of a modality (empty when it holds none). */
  async ids(modality: string, partition: number): Promise<string[]> {
    return (await this.request({ op: "ids", modality, partition })).ids;
  }

  /** `projections`: the version each modality's indexes hold (absent: raw), recorded in the manifest. */
  snapshot(dataDir: string, sequences: Record<number, number>, projections: Record<string, number> = {}): Promise<{ dir: string; templates: number }> {
    return this.request({ op: "snapshot", dataDir, sequences, projections });
  }

  /** Refuses (throws) a snapshot whose projection versions differ from `projections`. */
  async load(dataDir: string, partitions: number[], projections: Record<string, number> = {}): Promise<{ found: boolean; sequences: Map<number, number>; templates: number }> {
    const r = await this.request({ op: "load", dataDir, partitions, projections });
    return { found: r.found, sequences: new Map(r.sequences), templates: r.templates };
  }

  /** Applies changes to the modality's staging indexes (ops of other modalities are ignored). Transfers the vectors' buffers. */
  stageApply(modality: string, ops: ChangeOp[]): Promise<{ rejected: string[]; removed: number }> {
    const transfer: ArrayBuffer[] = [];
    for (const op of ops) if (op.vector && op.vector.byteLength === op.vector.buffer.byteLength) transfer.push(op.vector.buffer as ArrayBuffer);
    return this.request({ op: "stageApply", modality, ops }, transfer);
  }

  /**
   * The staging indexes replace the modality's. Searches sent before this call are answered from
   * the old indexes, searches sent after from the new (the worker serves requests in order).
   */
  stageSwap(modality: string): Promise<{ templates: number }> {
    return this.request({ op: "stageSwap", modality });
  }

  async stageDrop(modality: string): Promise<void> {
    await this.request({ op: "stageDrop", modality });
  }

  async close(): Promise<void> {
    this.failure ??= new Error("index worker closed");
    await this.worker.terminate();
  }
}
