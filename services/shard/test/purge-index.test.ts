import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findTemplateOnDisk, templateEncodings } from "@taj/devcluster";
import { PartitionIndex } from "../src/index/partition-index.ts";
import { quantize } from "../src/index/quantize.ts";
import { prng, tempDir, unitVector } from "./helpers.ts";

const HNSW = { connectivity: 16, expansionAdd: 64, expansionSearch: 64, threads: 1 };
// The graph's file is where a removed vector could linger (usearch only marks a slot free).
const rand = prng(7);
const vectors = Array.from({ length: 300 }, () => unitVector(rand, 128));
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function saved(index: PartitionIndex): string {
  const dir = tempDir("taj-purge-index-");
  dirs.push(dir);
  index.save(dir, "face-0");
  return dir;
}

const onDisk = (dir: string, i: number) => findTemplateOnDisk(dir, templateEncodings(vectors[i]!)).map((h) => `${h.file}:${h.encoding}`);

function filled(n: number): PartitionIndex {
  const index = new PartitionIndex(128, HNSW);
  index.apply(Array.from({ length: n }, (_, i) => ({ id: `id-${i}`, vector: quantize(vectors[i]!) })));
  return index;
}

test("a saved index holds a template in its rows and in the graph's file (so the checks below can fail)", () => {
  const hits = onDisk(saved(filled(50)), 3).sort();
  assert.deepEqual(hits, ["face-0.i8:shard-int8", "face-0.usearch:shard-int8"]);
});

test("after a delete, no saved file holds the template, though usearch only marks its slot free", () => {
  const index = filled(50);
  assert.equal(index.apply([{ id: "id-3", vector: undefined }]), 1);
  assert.deepEqual(onDisk(saved(index), 3), []);
  assert.equal(index.search(quantize(vectors[3]!), 50, false).some((h) => h.id === "id-3"), false);
});

test("a re-enrolment leaves no trace of the generation it replaced; deletes mixed with adds neither", () => {
  const index = filled(50);
  assert.equal(index.apply([{ id: "id-5", vector: quantize(vectors[200]!) }]), 1);
  index.apply([{ id: "id-6", vector: undefined }, { id: "id-7", vector: undefined }, { id: "new-1", vector: quantize(vectors[201]!) }]);
  const dir = saved(index);
  for (const gone of [5, 6, 7]) assert.deepEqual(onDisk(dir, gone), [], `template ${gone}`);
  assert.equal(onDisk(dir, 200).length, 2, "the new generation is stored");
});

test("ghosts are recycled by later adds, survive a reload, and are never returned by a search", () => {
  const index = filled(100);
  index.apply(Array.from({ length: 40 }, (_, i) => ({ id: `id-${i}`, vector: undefined })));
  const dir = saved(index);
  const loaded = PartitionIndex.load(dir, "face-0", HNSW);
  loaded.apply(Array.from({ length: 30 }, (_, i) => ({ id: `more-${i}`, vector: quantize(vectors[100 + i]!) })));
  loaded.apply([{ id: "id-50", vector: undefined }]);
  assert.equal(loaded.size, 60 + 30 - 1);
  const dir2 = saved(loaded);
  for (const gone of [0, 39, 50]) assert.deepEqual(onDisk(dir2, gone), [], `template ${gone}`);
  for (let i = 0; i < 20; i++) {
    const hits = loaded.search(quantize(unitVector(rand, 128)), 89, false);
    assert.ok(hits.every((h) => h.id.startsWith("id-") || h.id.startsWith("more-")));
    assert.equal(hits.length, 89, "ghosts take no place among the candidates");
  }
  const top = loaded.search(quantize(vectors[110]!), 1, false);
  assert.equal(top[0]?.id, "more-10");
});

test("a snapshot of an older format (int8 at a per-vector scale) is refused, so the replica rebuilds from the log", () => {
  const dir = saved(filled(20));
  const metaPath = join(dir, "face-0.json");
  const meta = JSON.parse(readFileSync(metaPath, "utf8")) as Record<string, unknown>;
  delete meta.format;
  delete meta.quantization;
  writeFileSync(metaPath, JSON.stringify(meta));
  assert.throws(() => PartitionIndex.load(dir, "face-0", HNSW), /another format/);
});

test("a snapshot with a graph is refused by a modality that now wants none, and the other way round", () => {
  const withGraph = saved(filled(20));
  assert.throws(() => PartitionIndex.load(withGraph, "face-0", undefined), /has an HNSW graph/);
  const rowsOnly = new PartitionIndex(128, undefined);
  rowsOnly.apply(Array.from({ length: 20 }, (_, i) => ({ id: `id-${i}`, vector: quantize(vectors[i]!) })));
  const plain = saved(rowsOnly);
  assert.throws(() => PartitionIndex.load(plain, "face-0", HNSW), /lacks an HNSW graph/);
  const back = PartitionIndex.load(plain, "face-0", undefined);
  assert.deepEqual(back.search(quantize(vectors[4]!), 3, false), rowsOnly.search(quantize(vectors[4]!), 3, false));
  assert.equal(back.hasGraph, false);
});
