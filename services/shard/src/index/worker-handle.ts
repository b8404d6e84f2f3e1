import { Worker } from "node:worker_threads";
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
 * Main-thread handle on one index worker. Requests are served in the order sent, so a search
 * sent after an apply sees that apply's effect.
 */
export class WorkerHandle {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;

  constructor(init: WorkerInit, onFatal: (err: Error) => void) {
    const url = new URL("./worker.ts", import.meta.url).href;
    const tsx = import.meta.resolve("tsx/esm/api");
    // Node 20 does not pass `--import tsx` hooks to workers: register tsx there, then load the .ts entry.
    const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`;
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

  request<K extends WorkerRequest["op"]>(req: Extract<WorkerRequest, { op: K }>, transfer: ArrayBuffer[] = []): Promise<WorkerResults[K]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, req }, transfer);
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error("index worker closed");
    await this.worker.terminate();
  }
}
