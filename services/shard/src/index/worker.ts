import { parentPort, workerData } from "node:worker_threads";
import { IndexStore, InvalidRequest } from "./store.ts";
import { loadSnapshot, saveIndexes } from "./snapshot.ts";
import type { WorkerInit, WorkerReply, WorkerRequest, WorkerResults } from "./protocol.ts";

/**
 * An index worker: owns the indexes of some of the shard's partitions (client.ts routes each
 * partition to one worker). usearch's Node calls are synchronous, so they run here, one request
 * at a time, and the main thread's event loop (gRPC, NATS, etcd) never blocks on them; several
 * workers scan a search's partitions on several cores at once.
 */
const port = parentPort;
if (!port) throw new Error("index worker must run in a worker thread");
const store = new IndexStore((workerData as WorkerInit).options);
/** Per modality, the indexes being rebuilt aside (never searched, never snapshotted) until swapped in. */
const staging = new Map<string, IndexStore>();
const stagingOf = (modality: string) => {
  let s = staging.get(modality);
  if (!s) staging.set(modality, (s = new IndexStore(store.options)));
  return s;
};

function handle(req: WorkerRequest): WorkerResults[keyof WorkerResults] {
  switch (req.op) {
    case "apply":
      return store.apply(req.ops);
    case "search":
      return { results: store.search(req.modality, req.partitions, req.query, req.k, req.exhaustive, req.bodyLocations, req.modelId) };
    case "drop":
      store.drop(req.partitions);
      return {};
    case "counts":
      return { counts: store.counts() };
    case "ids":
      return { ids: store.ids(req.modality, req.partition) };
    case "saveIndexes":
      return { indexes: saveIndexes(store, req.dir, req.sequences, req.part) };
    case "stageApply":
      return stagingOf(req.modality).apply(req.ops.filter((op) => op.modality === req.modality));
    case "stageSwap": {
      const built = stagingOf(req.modality);
      staging.delete(req.modality);
      store.replaceModality(req.modality, built);
      return { templates: built.counts().reduce((n, c) => n + c.templates, 0) };
    }
    case "stageDrop":
      staging.delete(req.modality);
      return {};
    case "load": {
      const loaded = loadSnapshot(store, req.dataDir, req.partitions, req.projections);
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
