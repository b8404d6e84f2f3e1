import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type * as Usearch from "usearch";
import { HUGE_PAGES_TUNABLE } from "@taj/common";
import { HnswGraph, IndexClient, Int8Rows, PartitionIndex, quantize, quantizeWithInfo } from "@taj/shard";
import { galleryChunks, generatorFor, probeMatrix, row } from "./dataset.ts";
import { latency, recallAt, round, type Latency } from "./stats.ts";

const usearch = createRequire(import.meta.url)("usearch") as typeof Usearch;

/**
 * The shard's index, part by part, before and after issue 10, on one generated gallery in one
 * run (`npm run bench:index -- --size 1000000`):
 * - memory per template of a partition index with and without its HNSW graph;
 * - the exhaustive scan: the previous kernel (cosine over int8 at a per-vector scale, one thread,
 *   one array), the new one (inner product at one scale, re-ranked, chunked), and the shard's
 *   index workers scanning their partitions on every core, each as a fraction of a memory-read
 *   baseline (memchr over as many bytes) measured in the same run;
 * - HNSW recall@10 and latency through usearch's JS wrapper (the previous path) and through the
 *   compiled binding with the shard's own int8, across expansion_search.
 * Results: bench/results/index/<size>.json (rewritten after each phase) and a table on stdout.
 * Run with `--expose-gc` for the memory figures (the npm script does).
 */
const { values: args } = parseArgs({
  options: {
    size: { type: "string", default: "1000000" },
    probes: { type: "string", default: "200" },
    "hnsw-size": { type: "string" },
    partitions: { type: "string", default: "8" },
    seed: { type: "string", default: "42" },
    out: { type: "string", default: fileURLToPath(new URL("../results/index/", import.meta.url)) },
  },
});
const N = Number(args.size);
const P = Number(args.probes);
const HNSW_N = Math.min(N, Number(args["hnsw-size"] ?? N));
const PARTITIONS = Number(args.partitions);
const K = 10;
const HNSW = { connectivity: 16, expansionAdd: 128, expansionSearch: 64, threads: 0 };
const EFS = [64, 128, 256, 512, 1024];
/** A record id of TAJ's length (ids are made inside the measured phase: the index keeps them). */
const idOf = (i: number) => `TAJ-${String(i).padStart(12, "0")}`;


const result: Record<string, unknown> = {
  size: N, probes: P, hnswSize: HNSW_N, partitions: PARTITIONS, cores: availableParallelism(),
  startedAt: new Date().toISOString(), loadAverageAtStart: loadavg(), hugePages: hugePageState(),
};
mkdirSync(args.out, { recursive: true });
const outFile = join(args.out, `${N >= 1e6 ? `${N / 1e6}m` : `${N / 1e3}k`}.json`);
const save = () => writeFileSync(outFile, JSON.stringify(result, null, 2));
const log = (s: string) => console.log(s);

const gen = generatorFor({ seed: Number(args.seed), size: N, probes: P });
const d = gen.dim;
log(`# index bench: ${N} templates of ${d}, ${P} probes, HNSW at ${HNSW_N}, ${availableParallelism()} cores`);
// --- memory per template ---------------------------------------------------------------------
{
  await gc();
  const before = process.memoryUsage();
  const index = new PartitionIndex(d, undefined);
  let reduced = 0;
  // Streamed from the generator, before the gallery exists, so nothing else moves the figures.
  for (const { from, vectors } of galleryChunks(gen, 10_000)) {
    const changes = [];
    for (let i = 0; i < vectors.length / d; i++) {
      const q = quantizeWithInfo(vectors.subarray(i * d, (i + 1) * d));
      if (q.reduced) reduced++;
      changes.push({ id: idOf(from + i), vector: q.vector });
    }
    index.apply(changes);
  }
  await gc();
  const after = process.memoryUsage();
  // The ids' own strings are counted: the index keeps them (18-character ids here).
  result.memory = {
    exhaustiveOnly: {
      bytesPerTemplateRss: round((after.rss - before.rss) / N),
      bytesPerTemplateHeapAndBuffers: round((after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / N),
      rowBytesPerTemplate: round(index.rowBytes / N),
      idLength: idOf(0).length,
    },
    reducedScaleShare: round(reduced / N),
  };
  log(`memory, exhaustive only: ${JSON.stringify(result.memory)}`);
  save();
  if (index.size !== N) throw new Error("index lost templates");
}
await gc();

const gallery = new Float32Array(N * d);
for (const { from, vectors } of galleryChunks(gen)) gallery.set(vectors, from * d);
const probes = probeMatrix(gen, P).vectors;

// Ground truth: exact f32 cosine.
const truth: number[][] = [];
for (let q = 0; q < P; q++) truth.push(Array.from((usearch.exactSearch(gallery, row(probes, q, d).slice(), d, K, usearch.MetricKind.Cos, 0) as Usearch.Matches).keys, Number));

function timed<T>(fn: () => T): { ms: number; value: T } {
  const t = performance.now();
  const value = fn();
  return { ms: performance.now() - t, value };
}

async function timedAsync<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

/** Full collections, with a pause for V8's concurrent sweeper to free array buffers' memory. */
async function gc(): Promise<void> {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error("run with node --expose-gc (npm run bench:index does)");
  for (let i = 0; i < 3; i++) {
    collect();
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The shard's quantisation before issue 10: per-vector scale, largest component 127. */
function perVectorInt8(v: Float32Array): Int8Array {
  let max = 0;
  for (const x of v) max = Math.max(max, Math.abs(x));
  return Int8Array.from(v, (x) => Math.round((x * 127) / max));
}

// --- exhaustive scan -------------------------------------------------------------------------
const scanRows: Record<string, unknown>[] = [];
result.scan = scanRows;
{
  const bytes = Buffer.alloc(N * d, 3); // filled, so its pages are real (not the shared zero page)
  const baseline: number[] = [];
  for (let r = 0; r < 10; r++) baseline.push(timed(() => bytes.indexOf(1)).ms);
  const memchr = latency(baseline);
  result.memoryReadBaseline = {
    what: `memchr over ${N * d} bytes (Buffer.indexOf of an absent byte), one thread, in this process`,
    ...memchr,
    // The same read in fresh processes with 4 KB pages and with glibc asked for huge pages.
    childProcesses: { smallPagesMs: childMemchr(N * d, false), hugePagesMs: childMemchr(N * d, true) },
  };
  save();

  const report = (name: string, times: number[], found: number[][], notes: string) => {
    const l = latency(times);
    const entry = { name, ...l, recallAt10: round(recallAt(K, found, truth)), baselineFraction: round(memchr.p50Ms / l.p50Ms), notes };
    scanRows.push(entry);
    log(`${name.padEnd(44)} p50 ${String(l.p50Ms).padStart(8)} ms  recall@10 ${entry.recallAt10}  memory-read fraction ${entry.baselineFraction}`);
    save();
  };

  {
    const flat = new Int8Array(N * d);
    for (let i = 0; i < N; i++) flat.set(perVectorInt8(gallery.subarray(i * d, (i + 1) * d)), i * d);
    const times: number[] = [];
    const found: number[][] = [];
    for (let q = 0; q < P; q++) {
      const probe = perVectorInt8(row(probes, q, d));
      const { ms, value } = timed(() => usearch.exactSearch(flat, probe, d, K, usearch.MetricKind.Cos, 1) as Usearch.Matches);
      times.push(ms);
      found.push(Array.from(value.keys, Number));
    }
    report("before: cosine i8, per-vector scale, 1 thread", times, found, "usearch exactSearch over one array (the shard until issue 10)");
  }
  {
    const rows = new Int8Rows(d);
    for (let i = 0; i < N; i++) rows.append(quantize(gallery.subarray(i * d, (i + 1) * d)));
    const times: number[] = [];
    const found: number[][] = [];
    for (let q = 0; q < P; q++) {
      const probe = quantize(row(probes, q, d));
      const { ms, value } = timed(() => rows.nearest(probe, K));
      times.push(ms);
      found.push(value.map((h) => h.row));
    }
    report("after: inner product i8, one scale, 1 thread", times, found, "Int8Rows.nearest: chunks of 65 536 rows, re-ranked by cosine");
  }
  for (const workers of [...new Set([1, availableParallelism()])]) {
    const client = new IndexClient({ hnsw: HNSW, graphModalities: [] }, undefined, workers);
    for (let from = 0; from < N; from += 10_000) {
      const ops = [];
      for (let i = from; i < Math.min(N, from + 10_000); i++) ops.push({ modality: "face", partition: i % PARTITIONS, id: String(i), vector: quantize(gallery.subarray(i * d, (i + 1) * d)) });
      await client.apply(ops);
    }
    const partitions = Array.from({ length: PARTITIONS }, (_, p) => p);
    const times: number[] = [];
    const found: number[][] = [];
    for (let q = 0; q < P; q++) {
      const probe = quantize(row(probes, q, d));
      const { ms, value } = await timedAsync(() => client.search("face", partitions, probe, K, true));
      times.push(ms);
      found.push(value.flatMap((r) => r.hits).sort((a, b) => b.similarity - a.similarity).slice(0, K).map((h) => Number(h.id)));
    }
    report(`after: ${PARTITIONS} partitions on ${workers} index worker(s)`, times, found, "IndexClient.search, hand-off to the workers included");
    await client.close();
  }
}

// --- HNSW ------------------------------------------------------------------------------------
if (HNSW_N > 0) {
  const work = join(tmpdir(), `taj-index-bench-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const hnswTruth: number[][] = [];
  const sub = gallery.subarray(0, HNSW_N * d);
  for (let q = 0; q < P; q++) hnswTruth.push(HNSW_N === N ? truth[q]! : Array.from((usearch.exactSearch(sub.slice(), row(probes, q, d).slice(), d, K, usearch.MetricKind.Cos, 0) as Usearch.Matches).keys, Number));
  const rowsOut: Record<string, unknown>[] = [];
  result.hnsw = rowsOut;
  const measure = (name: string, ef: number, search: (probe: Float32Array) => number[], extra: Record<string, unknown>) => {
    const times: number[] = [];
    const found: number[][] = [];
    for (let q = 0; q < P; q++) {
      const { ms, value } = timed(() => search(row(probes, q, d)));
      times.push(ms);
      found.push(value);
    }
    const l: Latency = latency(times);
    const entry = { name, expansionSearch: ef, recallAt10: round(recallAt(K, found, hnswTruth)), ...l, ...extra };
    rowsOut.push(entry);
    log(`${name.padEnd(44)} ef ${String(ef).padStart(3)}  recall@10 ${entry.recallAt10}  p50 ${l.p50Ms} ms`);
    save();
  };
  // Before: usearch's JS wrapper, which turns the shard's Int8Array into floats and re-quantises.
  {
    const build = timed(() => {
      const index = new usearch.Index({ dimensions: d, metric: usearch.MetricKind.Cos, quantization: usearch.ScalarKind.I8, connectivity: 16, expansion_add: 128, expansion_search: 64, multi: false });
      for (let from = 0; from < HNSW_N; from += 10_000) {
        const n = Math.min(HNSW_N, from + 10_000) - from;
        const keys = new BigUint64Array(n);
        const flat = new Int8Array(n * d);
        for (let i = 0; i < n; i++) {
          keys[i] = BigInt(from + i);
          flat.set(perVectorInt8(gallery.subarray((from + i) * d, (from + i + 1) * d)), i * d);
        }
        index.add(keys, flat, 0);
      }
      return index;
    });
    const path = join(work, "before.usearch");
    build.value.save(path);
    const fileBytes = statSync(path).size;
    // Each setting is the saved graph loaded into an index made with it (usearch keeps the
    // constructor's expansion_search across load()).
    for (const ef of EFS) {
      const index = new usearch.Index({ dimensions: d, metric: usearch.MetricKind.Cos, quantization: usearch.ScalarKind.I8, connectivity: 16, expansion_add: 128, expansion_search: ef, multi: false });
      index.load(path);
      measure("before: JS wrapper (re-quantised)", ef, (p) => Array.from((index.search(perVectorInt8(p), K, 1) as Usearch.Matches).keys, Number), { buildS: round(build.ms / 1000), fileBytesPerTemplate: round(fileBytes / HNSW_N) });
    }
  }
  // After: the compiled binding with the shard's own int8; each ef is a graph loaded with that setting.
  {
    await gc();
    const rssBefore = process.memoryUsage().rss;
    const build = timed(() => {
      const g = new HnswGraph(d, HNSW);
      for (let from = 0; from < HNSW_N; from += 10_000) {
        const added = [];
        for (let i = from; i < Math.min(HNSW_N, from + 10_000); i++) added.push({ row: i, vector: quantize(gallery.subarray(i * d, (i + 1) * d)) });
        g.commit(added);
      }
      return g;
    });
    await gc();
    const graphRss = (process.memoryUsage().rss - rssBefore) / HNSW_N;
    const path = join(work, "after.usearch");
    const meta = build.value.save(path);
    const fileBytes = statSync(path).size;
    for (const ef of EFS) {
      const g = HnswGraph.load(path, d, { ...HNSW, expansionSearch: ef }, meta, HNSW_N);
      measure("after: compiled binding, shard's int8", ef, (p) => g.nearest(quantize(p), K).map((h) => h.row), { buildS: round(build.ms / 1000), fileBytesPerTemplate: round(fileBytes / HNSW_N), graphRssBytesPerTemplate: round(graphRss) });
    }
  }
  rmSync(work, { recursive: true, force: true });
}

result.hugePagesAtEnd = hugePageState();
result.finishedAt = new Date().toISOString();
result.loadAverageAtEnd = loadavg();
save();
log(`written ${outFile}`);

/** p50 of 10 memchr passes over `bytes` in a child process, with or without glibc's huge-page tunable. */
function childMemchr(bytes: number, huge: boolean): { p50Ms: number; anonHugePagesKb: number } {
  const script = `const b=Buffer.alloc(${bytes},3);const t=[];for(let r=0;r<10;r++){const s=performance.now();b.indexOf(1);t.push(performance.now()-s)}t.sort((x,y)=>x-y);` +
    `const h=/AnonHugePages:\\s+(\\d+) kB/.exec(require("fs").readFileSync("/proc/self/smaps_rollup","utf8"));console.log(JSON.stringify({p50Ms:t[5],anonHugePagesKb:Number(h?h[1]:0)}))`;
  const env = { ...process.env, GLIBC_TUNABLES: huge ? HUGE_PAGES_TUNABLE : "" };
  return JSON.parse(execFileSync(process.execPath, ["-e", script], { env, encoding: "utf8" })) as { p50Ms: number; anonHugePagesKb: number };
}

/** Whether this process may get transparent huge pages (and how many it holds now). */
function hugePageState(): Record<string, string> {
  const read = (p: string) => {
    try {
      return readFileSync(p, "utf8").trim();
    } catch {
      return "unreadable";
    }
  };
  const anon = /AnonHugePages:\s+(\d+) kB/.exec(read("/proc/self/smaps_rollup"))?.[1] ?? "?";
  return {
    transparentHugepage: read("/sys/kernel/mm/transparent_hugepage/enabled"),
    glibcTunables: process.env.GLIBC_TUNABLES ?? "",
    anonHugePagesKbAtStart: anon,
  };
}
