import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { TemplateGenerator, dot, generatorStats } from "../src/generator.ts";
import { parseBenchArgs, parseSize, formatSize } from "../src/args.ts";
import { percentile, recallAt } from "../src/stats.ts";
import { describeProgress, type BenchResult } from "../src/run.ts";
import { matchedRecallReference, progressPath, runEngine, type BuildProgressRecord, type EngineName, type EngineResult } from "../src/engine-run.ts";
import { ExactF32 } from "../src/engines/usearch.ts";
import { probeMatrix, row } from "../src/dataset.ts";
import { availableBytes, bytesNeeded, wontFit } from "../src/memory-plan.ts";

const layout = { size: 3000, photosPerIdentity: 3, matedShare: 0.3, matedProbeShare: 0.8 };

test("generator: similarity statistics match the real model's measured on the sample faces", () => {
  // Targets (bench/results/calibration.json): cross-photo genuine 0.61, impostor 0.056 ± 0.115.
  const { genuine, impostor } = generatorStats(new TemplateGenerator(11, layout), 3000);
  assert.ok(genuine.mean > 0.57 && genuine.mean < 0.65, `genuine mean ${genuine.mean}`);
  assert.ok(impostor.mean > 0.03 && impostor.mean < 0.08, `impostor mean ${impostor.mean}`);
  assert.ok(impostor.sd > 0.09 && impostor.sd < 0.14, `impostor sd ${impostor.sd}`);
  // Random 512-d unit vectors would give sd 0.044: the shared structure is what widens it.
});

test("generator: unit vectors, deterministic per (seed, index), different across seeds", () => {
  const a = new TemplateGenerator(5, layout), b = new TemplateGenerator(5, layout), c = new TemplateGenerator(6, layout);
  const v = a.template(1234);
  assert.ok(Math.abs(dot(v, v) - 1) < 1e-5);
  assert.deepEqual(Array.from(b.template(1234)), Array.from(v));
  assert.ok(dot(c.template(1234), v) < 0.9);
});

test("generator: layout of mated identities, distractors and probes", () => {
  const g = new TemplateGenerator(3, layout);
  assert.equal(g.matedIdentities, 300); // 3000 * 0.3 / 3
  assert.deepEqual(g.identityOf(0), { identity: 0, photo: 0 });
  assert.deepEqual(g.identityOf(5), { identity: 1, photo: 2 });
  assert.deepEqual(g.identityOf(900), { identity: 300, photo: 0 }); // first distractor
  assert.deepEqual(g.identityOf(2999), { identity: 2399, photo: 0 });
  let mated = 0;
  for (let q = 0; q < 1000; q++) {
    const p = g.probe(q);
    if (!p.mated) continue;
    mated++;
    // A mated probe is a new photo of an enrolled identity: close to its photos, not equal to any.
    const first = g.template(p.identity * 3);
    const s = dot(p.vector, first);
    assert.ok(s > 0.3 && s < 0.99, `probe ${q} vs its mate: ${s}`);
  }
  assert.ok(mated > 740 && mated < 860, `mated probes ${mated} of 1000`);
});

test("recall@k and percentiles on hand-made cases", () => {
  const exact = [[1, 2, 3], [4, 5, 6]];
  assert.equal(recallAt(1, [[1, 9, 9], [5, 4, 6]], exact), 0.5); // probe 0 hits, probe 1 misses at rank 1
  assert.equal(recallAt(3, [[3, 2, 1], [4, 7, 8]], exact), (1 + 1 / 3) / 2);
  assert.equal(percentile([5, 1, 4, 2, 3], 50), 3);
  assert.equal(percentile([5, 1, 4, 2, 3], 99), 5);
  assert.equal(parseSize("100k"), 100_000);
  assert.equal(parseSize("1.5m"), 1_500_000);
  assert.equal(formatSize(17_000_000), "17m");
});

test("exact-f32 streamed (gallery too big for RAM): one pass for all probes gives the in-memory answers", async () => {
  const gen = new TemplateGenerator(7, layout);
  const probes = probeMatrix(gen, 25).vectors;
  const inMemory = new ExactF32(), streamed = new ExactF32({ above: 0, chunk: 700 }); // 5 chunks to merge across
  await inMemory.build(gen);
  await streamed.build(gen);
  assert.equal(inMemory.searchAll, undefined);
  assert.ok(streamed.searchAll, "a gallery over the limit is searched in one pass");
  const expected = Array.from({ length: 25 }, (_, q) => inMemory.search(row(probes, q, gen.dim), 10));
  assert.ok(expected.flat().some((key) => key >= 700), "answers come from more than the first chunk");
  assert.deepEqual(streamed.searchAll!(probes, 25, 10), expected);
  assert.deepEqual(streamed.search(row(probes, 3, gen.dim), 10), expected[3]);
});

test("memory plan: phases that would not fit in memory or on disk are skipped with the figures, not started", () => {
  const gib = 2 ** 30;
  assert.equal(availableBytes("MemTotal:       24000000 kB\nMemAvailable:   20971520 kB\n"), 20 * gib);
  assert.throws(() => availableBytes("MemTotal: 1 kB\n"), /MemAvailable/);
  const room = { memoryBytes: 20 * gib, diskBytes: 70 * gib };
  // The default tier fits a 24 GiB machine with ~20 GiB available and 70 GiB of disk.
  for (const phase of ["exact-f32", "usearch-hnsw-i8", "usearch-exhaustive-i8", "hnswlib-node", "lancedb", "cluster"] as const) {
    assert.equal(wontFit(phase, 1_000_000, room), undefined, phase);
  }
  // Above 2 M the truth is streamed (no f32 copy), so it fits at 17 M. The two sites' shards,
  // exhaustive only above 2 M, fit at 9 M (the issue-10 index) and not at 17 M.
  assert.equal(bytesNeeded("exact-f32", 17_000_000).memoryBytes, 0);
  assert.equal(wontFit("usearch-hnsw-i8", 17_000_000, room), undefined);
  assert.equal(wontFit("cluster", 9_000_000, room), undefined);
  assert.equal(
    wontFit("cluster", 17_000_000, room),
    "skipped: needs ~22.2 GiB resident, 20.0 GiB available; ~95.0 GiB on disk, 70.0 GiB free (keeps 15 % free)",
  );
  assert.ok(bytesNeeded("cluster", 1_000_000).memoryBytes > 2 * bytesNeeded("cluster", 3_000_000).memoryBytes / 3, "the graph's memory below the limit");
  assert.match(wontFit("hnswlib-node", 17_000_000, room)!, /^skipped: needs ~36\.4 GiB resident/);
  // The 17 M gallery file (half precision, 16.2 GiB) fits 70 GiB free, not 15.
  assert.equal(wontFit("gallery", 17_000_000, room), undefined);
  assert.match(wontFit("gallery", 17_000_000, { memoryBytes: 20 * gib, diskBytes: 15 * gib })!, /needs ~16\.2 GiB on disk, 15\.0 GiB free/);
  assert.match(wontFit("lancedb", 9_000_000, { memoryBytes: 20 * gib, diskBytes: 10 * gib })!, /^skipped: needs ~23\.5 GiB on disk, 10\.0 GiB free/);
});

test("a tiny run writes its JSON, table and charts", async () => {
  const out = await mkdtemp(join(tmpdir(), "taj-bench-test-"));
  try {
    const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
    await promisify(execFile)(process.execPath, [
      "--import", "tsx", main, "--scales", "2k", "--probes", "30", "--no-cluster", "--no-images", "--out", out, "--work-dir", join(out, "work"),
    ], { timeout: 300_000 });
    const result = JSON.parse(await readFile(join(out, "scale-2k.json"), "utf8")) as BenchResult;
    const scale = result.scales[0]!;
    assert.equal(scale.size, 2000);
    assert.deepEqual(scale.engineErrors, {});
    assert.equal(scale.engines["exact-f32"]!.recallAt10, 1);
    for (const name of ["usearch-hnsw-i8", "usearch-exhaustive-i8", "hnswlib-node", "lancedb"] as const) {
      const e = scale.engines[name]!;
      assert.ok(e.recallAt10 > 0.5 && e.recallAt10 <= 1, `${name} recall@10 ${e.recallAt10}`);
      assert.equal(e.latency.n, 30);
    }
    // The graphs were tuned towards the exhaustive scan's recall: each tried at least one value.
    for (const name of ["usearch-hnsw-i8", "hnswlib-node", "lancedb"] as const) assert.ok(scale.engines[name]!.tuning.length > 0, name);
    for (const png of ["scale-2k-latency.png", "scale-2k-recall.png"]) assert.ok((await stat(join(out, png))).size > 1000);
    assert.match(await readFile(join(out, "scale-2k.txt"), "utf8"), /usearch-hnsw-i8/);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test("--engine-timeout: a default and limits for named engines; an unknown engine is refused", () => {
  const o = parseBenchArgs(["--scales", "20k", "--engine-timeout", "90,hnswlib-node=20"]);
  assert.equal(o.engineTimeoutMinutes, 90);
  assert.deepEqual(o.engineTimeouts, { "hnswlib-node": 20 });
  assert.equal(parseBenchArgs(["--scales", "20k"]).engineTimeoutMinutes, 60);
  assert.throws(() => parseBenchArgs(["--engine-timeout", "90,faiss=20"]), /unknown engine "faiss"/);
  assert.throws(() => parseBenchArgs(["--engine-timeout", "hnswlib-node=0"]), /integer >= 1/);
});

test("matched recall: tuned to the shard's exhaustive scan where it ran, else to usearch's HNSW; the reference runs first", () => {
  const e = (engine: EngineName, recallAt10: number) => ({ engine, recallAt10 }) as EngineResult;
  assert.equal(matchedRecallReference({ "usearch-exhaustive-i8": e("usearch-exhaustive-i8", 0.98), "usearch-hnsw-i8": e("usearch-hnsw-i8", 0.9) })?.engine, "usearch-exhaustive-i8");
  assert.equal(matchedRecallReference({ "usearch-hnsw-i8": e("usearch-hnsw-i8", 0.9) })?.engine, "usearch-hnsw-i8");
  assert.deepEqual(parseBenchArgs(["--engines", "lancedb,usearch-hnsw-i8,usearch-exhaustive-i8"]).engines, ["exact-f32", "usearch-exhaustive-i8", "usearch-hnsw-i8", "lancedb"]);
  assert.equal(matchedRecallReference({ "usearch-exhaustive-i8": e("usearch-exhaustive-i8", 0.98) })?.engine, "usearch-exhaustive-i8");
  assert.equal(matchedRecallReference({ "exact-f32": e("exact-f32", 1) }), undefined);
});

test("an engine's build leaves its progress behind: the last record says every template went in", async () => {
  const dir = await mkdtemp(join(tmpdir(), "taj-bench-progress-"));
  try {
    const spec = { seed: 3, size: 2_000, probes: 10 };
    const truthPath = join(dir, "truth.json");
    await runEngine({ engine: "exact-f32", spec, dir: join(dir, "exact"), out: join(dir, "exact.json"), truthPath, k: 10, tuneBudgetMs: 1_000 });
    const job = { engine: "hnswlib-node" as const, spec, dir: join(dir, "hnswlib"), out: join(dir, "hnswlib.json"), truthPath, k: 10, tuneBudgetMs: 1_000 };
    await runEngine(job);
    const progress = JSON.parse(await readFile(progressPath(job), "utf8")) as BuildProgressRecord;
    assert.equal(progress.phase, "insert");
    assert.equal(progress.templatesAdded, 2_000);
    assert.equal(progress.size, 2_000);
    assert.ok(progress.insertsPerSecond > 0);
    assert.match(describeProgress({ ...progress, templatesAdded: 500, seconds: 10, insertsPerSecond: 50, size: 9_000_000 }), /500 of 9000000 inserted in 10 s \(50\/s so far; the inserts alone projected at 50\.0 h\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
