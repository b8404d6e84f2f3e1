import { test, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { IndexClient } from "../src/index/client.ts";
import { int8Cosine, quantize } from "../src/index/quantize.ts";
import type { ChangeOp } from "../src/index/store.ts";
import { prng, tempDir, unitVector } from "./helpers.ts";

// The index worker's body-location side table: filtered searches return only templates at the
// asked locations, ranked by an exact scan; deletes, re-enrolments, drops and snapshots keep the
// table in step with the indexes.
const HNSW = { hnsw: { connectivity: 16, expansionAdd: 128, expansionSearch: 64, threads: 0 }, graphModalities: ["face"] };
const LOCATIONS = ["L ARM", "R ARM", "CHEST", ""];
const N = 600;
const rand = prng(9);
const vectors = Array.from({ length: N }, () => quantize(unitVector(rand, 64)));
const idOf = (i: number) => `t-${i}`;
const locationOf = (i: number) => LOCATIONS[i % LOCATIONS.length]!;
const partitionOf = (i: number) => i % 3;
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The model: what a filtered search must answer, by brute force over every stored template. */
function expected(model: Map<string, { partition: number; location: string; vector: Int8Array }>, partition: number, wanted: string[], probe: Int8Array, k: number) {
  return [...model]
    .filter(([, r]) => r.partition === partition && wanted.includes(r.location))
    .map(([id, r]) => ({ id, similarity: int8Cosine(probe, r.vector) }))
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, k);
}

async function agrees(client: IndexClient, model: Parameters<typeof expected>[0], probe: Int8Array, wanted: string[], k = 10) {
  for (const exhaustive of [false, true]) {
    const results = await client.search("tattoo", [0, 1, 2], probe, k, exhaustive, wanted);
    for (const { partition, hits } of results) {
      const want = expected(model, partition, wanted, probe, k);
      assert.deepEqual(hits.map((h) => h.id), want.map((w) => w.id), `partition ${partition}, ${wanted.join("|")}: exactly the model's nearest`);
      hits.forEach((h, i) => assert.ok(Math.abs(h.similarity - want[i]!.similarity) < 1e-4));
    }
  }
}

test("body-location filter: only matching templates, exact ranking; delete, re-enrol, drop and snapshot keep it", async (t) => {
  const client = new IndexClient(HNSW);
  t.after(() => client.close());
  const model = new Map<string, { partition: number; location: string; vector: Int8Array }>();
  const ops: ChangeOp[] = [];
  for (let i = 0; i < N; i++) {
    ops.push({ modality: "tattoo", partition: partitionOf(i), id: idOf(i), vector: vectors[i]!.slice(), bodyLocation: locationOf(i) });
    model.set(idOf(i), { partition: partitionOf(i), location: locationOf(i), vector: vectors[i]! });
  }
  await client.apply(ops);
  const q = prng(10);
  const probe = () => quantize(unitVector(q, 64));

  // Unfiltered search still sees everything, templates without a location included.
  const [all] = await client.search("tattoo", [0], vectors[3]!, 1, true);
  assert.equal(all!.hits[0]!.id, idOf(3), "t-3 has no location and is found without a filter");
  for (const wanted of [["L ARM"], ["R ARM", "CHEST"], ["BACK"]]) await agrees(client, model, probe(), wanted);
  // A template's own vector, filtered to another location, is not returned.
  const [other] = await client.search("tattoo", [partitionOf(0)], vectors[0]!, 5, true, ["R ARM"]);
  assert.ok(!other!.hits.some((h) => h.id === idOf(0)), "t-0 is on L ARM");

  // Delete t-0 (L ARM), move t-4 (L ARM) to CHEST, and clear t-8's location by re-enrolling without one.
  await client.apply([
    { modality: "tattoo", partition: partitionOf(0), id: idOf(0) },
    { modality: "tattoo", partition: partitionOf(4), id: idOf(4), vector: vectors[4]!.slice(), bodyLocation: "CHEST" },
    { modality: "tattoo", partition: partitionOf(8), id: idOf(8), vector: vectors[8]!.slice() },
  ]);
  model.delete(idOf(0));
  model.get(idOf(4))!.location = "CHEST";
  model.get(idOf(8))!.location = "";
  for (const i of [0, 4, 8]) {
    const [r] = await client.search("tattoo", [partitionOf(i)], vectors[i]!, 5, true, ["L ARM"]);
    assert.ok(!r!.hits.some((h) => h.id === idOf(i)), `${idOf(i)} no longer at L ARM`);
  }
  const [moved] = await client.search("tattoo", [partitionOf(4)], vectors[4]!, 1, false, ["CHEST"]);
  assert.equal(moved!.hits[0]!.id, idOf(4));
  await agrees(client, model, probe(), ["L ARM", "CHEST"]);

  // A snapshot restores the table with the indexes, for the partitions loaded only.
  const dir = tempDir("shard-loc-snap-");
  dirs.push(dir);
  await client.snapshot(dir, { 0: 10, 1: 10, 2: 10 });
  const restored = new IndexClient(HNSW);
  t.after(() => restored.close());
  assert.equal((await restored.load(dir, [0, 1, 2])).found, true);
  for (const wanted of [["L ARM"], ["CHEST"], ["R ARM", "L ARM"]]) await agrees(restored, model, probe(), wanted);
  const partial = new IndexClient(HNSW);
  t.after(() => partial.close());
  await partial.load(dir, [1]);
  const [p1, p2] = await partial.search("tattoo", [1, 2], probe(), 5, true, ["CHEST"]);
  assert.ok(p1!.hits.length > 0 && p2!.hits.length === 0, "only the loaded partition answers");

  // Dropping a partition drops its locations: a template enrolled again there without one is not filtered in.
  await restored.drop([1]);
  const i1 = [...Array(N).keys()].find((i) => partitionOf(i) === 1 && locationOf(i) === "R ARM")!;
  await restored.apply([{ modality: "tattoo", partition: 1, id: idOf(i1), vector: vectors[i1]!.slice() }]);
  const [afterDrop] = await restored.search("tattoo", [1], vectors[i1]!, 5, true, ["R ARM"]);
  assert.deepEqual(afterDrop!.hits, []);
});

test("a modality re-indexed aside (a new projection) swaps in with its body locations", async (t) => {
  const client = new IndexClient(HNSW);
  t.after(() => client.close());
  const ops: ChangeOp[] = Array.from({ length: 60 }, (_, i) => ({ modality: "tattoo", partition: partitionOf(i), id: idOf(i), vector: vectors[i]!.slice(), bodyLocation: locationOf(i) }));
  await client.apply(ops);
  // The staged copy: 32-d vectors (as a projection gives), t-1 moved to CHEST.
  const r = prng(11);
  const staged: ChangeOp[] = ops.map((op, i) => ({ ...op, vector: quantize(unitVector(r, 32)), bodyLocation: i === 1 ? "CHEST" : locationOf(i) }));
  const probe = staged[1]!.vector!.slice(); // the staged vectors are handed over to the worker
  await client.stageApply("tattoo", staged);
  await client.stageSwap("tattoo");
  const [hit] = await client.search("tattoo", [partitionOf(1)], probe, 1, true, ["CHEST"]);
  assert.equal(hit!.hits[0]?.id, idOf(1), "the staged location is the one in use");
  const [none] = await client.search("tattoo", [partitionOf(1)], probe, 5, true, ["R ARM"]);
  assert.ok(!none!.hits.some((h) => h.id === idOf(1)));
});
