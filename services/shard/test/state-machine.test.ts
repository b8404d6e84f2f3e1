import { test, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { IndexClient } from "../src/index/client.ts";
import { quantize } from "../src/index/quantize.ts";
import { PartitionState } from "../src/partition-state.ts";
import type { ChangeOp } from "../src/index/store.ts";
import { prng, tempDir, unitVector } from "./helpers.ts";

/**
 * Random enroll / replace / delete / snapshot / crash-restart sequences, checked after every step
 * against a plain Map. A restart loses everything not in the snapshot and replays the log from the
 * snapshot's sequence through PartitionState, as the replica does.
 */
const HNSW = { hnsw: { connectivity: 16, expansionAdd: 128, expansionSearch: 64, threads: 1 }, graphModalities: ["face"] };
const DIMS = 32;
const PARTITIONS = [0, 1, 2];
const POOL = 40;
const STEPS = 200;
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface LogEntry {
  seq: number;
  partition: number;
  id: string;
  vector?: Float32Array;
}

for (const seed of [1, 2, 3]) {
  test(`state machine, seed ${seed}`, async (t) => {
    const rand = prng(seed);
    const dataDir = tempDir("shard-sm-");
    dirs.push(dataDir);
    const model = new Map<string, Float32Array>();
    const log: LogEntry[] = [];
    const partitionOf = (id: string) => Number(id.slice(3)) % PARTITIONS.length;
    let client = new IndexClient(HNSW);
    let state = new PartitionState();
    state.assign(PARTITIONS, 0);
    state.join(PARTITIONS);
    t.after(() => client.close());

    const feed = async (entries: LogEntry[]) => {
      const ops: ChangeOp[] = [];
      for (const e of entries) {
        if (state.shouldApply(e.partition, e.seq)) {
          state.markApplied(e.partition, e.seq);
          ops.push(e.vector ? { modality: "face", partition: e.partition, id: e.id, vector: quantize(e.vector) } : { modality: "face", partition: e.partition, id: e.id });
        }
        state.advance(e.seq);
      }
      if (ops.length > 0) await client.apply(ops);
    };

    const check = async (step: number, everyId: boolean) => {
      const counts = await client.counts();
      for (const p of PARTITIONS) {
        const expected = [...model.keys()].filter((id) => partitionOf(id) === p).length;
        assert.equal(counts.find((c) => c.partition === p)?.templates ?? 0, expected, `step ${step}: count of partition ${p}`);
      }
      const ids = [...model.keys()];
      const sample = everyId ? ids : Array.from({ length: Math.min(6, ids.length) }, () => ids[Math.floor(rand() * ids.length)]!);
      for (const id of sample) {
        const vector = model.get(id)!;
        const [r] = await client.search("face", [partitionOf(id)], quantize(vector), POOL, true);
        assert.equal(r!.hits[0]?.id, id, `step ${step}: ${id} first in exhaustive search`);
        assert.equal(new Set(r!.hits.map((h) => h.id)).size, r!.hits.length, "no id twice");
        for (const h of r!.hits) assert.ok(model.has(h.id), `step ${step}: ${h.id} is not enrolled`);
        const [a] = await client.search("face", [partitionOf(id)], quantize(vector), 3, false);
        for (const h of a!.hits) assert.ok(model.has(h.id), `step ${step}: approximate returned removed ${h.id}`);
      }
    };

    for (let step = 0; step < STEPS; step++) {
      const roll = rand();
      let everyId = false;
      if (roll < 0.8) {
        // Enroll or replace (the pool is small, so many are replaces), in a batch of 1-5 events.
        const batch: LogEntry[] = [];
        for (let n = 1 + Math.floor(rand() * 5); n > 0; n--) {
          const id = `id-${Math.floor(rand() * POOL)}`;
          const deleteIt = rand() < 0.3;
          const entry: LogEntry = { seq: log.length + 1, partition: partitionOf(id), id };
          if (deleteIt) model.delete(id);
          else model.set(id, (entry.vector = unitVector(rand, DIMS)));
          log.push(entry);
          batch.push(entry);
        }
        await feed(batch);
      } else if (roll < 0.93) {
        await client.snapshot(dataDir, state.sequences());
      } else {
        // Crash: the worker's memory is gone; load the last snapshot and replay the tail.
        await client.close();
        client = new IndexClient(HNSW);
        state = new PartitionState();
        const loaded = await client.load(dataDir, PARTITIONS);
        state.assign(PARTITIONS, log.length, loaded.sequences);
        const from = state.join(PARTITIONS);
        if (loaded.found) assert.ok(from > 1 || log.length === 0 || [...loaded.sequences.values()].every((s) => s === 0));
        await feed(log.slice(from - 1));
        state.reachedHead();
        assert.deepEqual(state.loaded(), PARTITIONS);
        everyId = true;
      }
      await check(step, everyId);
    }
  });
}
