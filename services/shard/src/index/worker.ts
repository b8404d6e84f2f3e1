import { parentPort, workerData } from "node:worker_threads";
import { IndexStore, InvalidRequest } from "./store.ts";
import { loadSnapshot, writeSnapshot } from "./snapshot.ts";
import type { WorkerInit, WorkerReply, WorkerRequest, WorkerResults } from "./protocol.ts";

/**
 * The index worker: owns every usearch index. usearch's Node calls are synchronous, so they
 * run here, one request at a time, and the main thread's event loop (gRPC, NATS, etcd) never
 * blocks on them.
 */
const port = parentPort;
if (!port) throw new Error("index worker must run in a worker thread");
const store = new IndexStore((workerData as WorkerInit).hnsw);

function handle(req: WorkerRequest): WorkerResults[keyof WorkerResults] {
  switch (req.op) {
    case "apply":
      return store.apply(req.ops);
    case "search":
      return { results: store.search(req.modality, req.partitions, req.query, req.k, req.exhaustive, req.bodyLocations) };
    case "drop":
      store.drop(req.partitions);
      return {};
    case "counts":
      return { counts: store.counts() };
    case "ids":
      return { ids: store.get(req.modality, req.partition)?.ids() ?? [] };
    case "snapshot":
      return writeSnapshot(store, req.dataDir, req.sequences);
    case "load": {
      const loaded = loadSnapshot(store, req.dataDir, req.partitions);
      return loaded
        ? { found: true, sequences: [...loaded.sequences], templates: loaded.templates }
        : { found: false, sequences: [], templates: 0 };
    }
  }
}

port.on("message", ({ id, req }: { id: number; req: WorkerRequest }) => {
  let reply: WorkerReply;
  try {
    reply = { id, ok: true, result: handle(req) };
  } catch (err) {
    reply = { id, ok: false, invalid: err instanceof InvalidRequest, message: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
