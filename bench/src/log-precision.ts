// `npm run bench:log-precision -- [--size 100000] [--probes 500] [--seed 1] [--k 10] [--out bench/results]`:
// what storing templates in the log as half precision (TemplateEnrolled.template_f16) costs a
// search. The shard indexes int8 (services/shard quantize()) of what it reads from the log: here
// the generator's gallery is quantised from float32 (the old records) and from float32 -> half ->
// float32 (the new ones, read back through common's enrolledTemplate), each searched exactly
// (usearch exactSearch, int8, the shard's EXHAUSTIVE mode) with float32 probes (a probe never goes
// through the log), and compared with the exact float32 top-k. Also the cosine error itself and
// the bytes of one real log record either way. Prints a table, writes <out>/log-precision.json.
import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type * as Usearch from "usearch";
import { Modality, TemplateEventSchema } from "@taj/proto";
import { cosine, encodeTemplateEvent, encodeTemplateF16, enrolledTemplate } from "@taj/common";
import { quantize } from "@taj/shard";
import { galleryChunk, generatorFor } from "./dataset.ts";

const usearch = createRequire(import.meta.url)("usearch") as typeof Usearch;

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "100000" },
    probes: { type: "string", default: "500" },
    seed: { type: "string", default: "1" },
    k: { type: "string", default: "10" },
    /** Gallery templates per probe, besides its true top-k, whose cosine error is measured. */
    pairs: { type: "string", default: "200" },
    out: { type: "string", default: join(import.meta.dirname, "..", "results") },
  },
});
const [size, probeCount, seed, k, pairsPerProbe] = [values.size, values.probes, values.seed, values.k, values.pairs].map(Number) as [number, number, number, number, number];
if (![size, probeCount, k, pairsPerProbe].every((n) => Number.isInteger(n) && n > 0) || !Number.isInteger(seed)) {
  console.error("--size, --probes, --k, --pairs take positive integers, --seed an integer");
  process.exit(64);
}
const started = Date.now();
const log = (m: string) => process.stderr.write(`[log-precision +${((Date.now() - started) / 1000).toFixed(0)}s] ${m}\n`);

const gen = generatorFor({ seed, size, probes: probeCount });
const dim = gen.dim;
log(`generating ${size} templates of ${dim} dimensions and ${probeCount} probes`);
const f32 = galleryChunk(gen, 0, size);
const f16 = new Float32Array(size * dim);
for (let i = 0; i < size; i++) {
  const row = f32.subarray(i * dim, (i + 1) * dim);
  f16.set(enrolledTemplate({ templateF16: encodeTemplateF16(row), template: [] }), i * dim);
}
const probes = new Float32Array(probeCount * dim);
for (let q = 0; q < probeCount; q++) gen.probe(q, probes.subarray(q * dim, (q + 1) * dim));

function int8Of(vectors: Float32Array, count: number): Int8Array {
  const out = new Int8Array(count * dim);
  for (let i = 0; i < count; i++) out.set(quantize(vectors.subarray(i * dim, (i + 1) * dim)), i * dim);
  return out;
}

/** Each probe's top-k keys, exact, 1 thread (usearch reads whole typed arrays: none is a subarray here). */
function topK(gallery: Float32Array | Int8Array, queries: Float32Array | Int8Array): number[][] {
  const m = usearch.exactSearch(gallery, queries, dim, k, usearch.MetricKind.Cos, 1);
  return Array.from({ length: probeCount }, (_, q) => Array.from(("counts" in m ? m.get(q) : m).keys, Number));
}

log("exact float32 top-k (the truth)");
const truth = topK(f32, probes);
const probesInt8 = int8Of(probes, probeCount);
const variants = [
  { name: "int8 of float32 records (before)", gallery: () => int8Of(f32, size), queries: probesInt8 },
  { name: "int8 of half records (after)", gallery: () => int8Of(f16, size), queries: probesInt8 },
  { name: "half records, float32 search (no int8)", gallery: () => f16, queries: probes },
];
const recall = (found: number[][]) => found.reduce((sum, keys, q) => sum + keys.filter((key) => truth[q]!.includes(key)).length, 0) / (probeCount * k);
const results = variants.map((v) => {
  log(`exact search: ${v.name}`);
  const found = topK(v.gallery(), v.queries);
  const sameLists = found.filter((keys, q) => keys.length === truth[q]!.length && keys.every((key, i) => key === truth[q]![i])).length;
  return { variant: v.name, recallAtK: recall(found), identicalRankedLists: sameLists / probeCount, found };
});
const [before, after] = results as [(typeof results)[0], (typeof results)[0]];
// How often the half-precision log changes the shard's answer at all (same ids, same order).
const unchanged = after.found.filter((keys, q) => keys.every((key, i) => key === before.found[q]![i])).length / probeCount;

log("cosine errors");
// Per probe: its true top-k (where a ranking is decided) and `pairs` other gallery templates (spread over the gallery).
let pairs = 0, sumHalf = 0, maxHalf = 0, sumInt8 = 0;
const row = (a: Float32Array | Int8Array, i: number) => a.subarray(i * dim, (i + 1) * dim);
const int8Gallery = int8Of(f32, size);
for (let q = 0; q < probeCount; q++) {
  const p = row(probes, q);
  const pi8 = row(probesInt8, q);
  const others = Array.from({ length: pairsPerProbe }, (_, j) => (q * 7919 + j * 104_729) % size);
  for (const i of [...truth[q]!, ...others]) {
    const exact = cosine(p, row(f32, i));
    const half = Math.abs(cosine(p, row(f16, i)) - exact);
    sumHalf += half;
    maxHalf = Math.max(maxHalf, half);
    sumInt8 += Math.abs(cosine(pi8, row(int8Gallery, i)) - exact);
    pairs++;
  }
}

/** One TemplateEnrolled as the gateway writes it, with the template either way. */
function recordBytes(dimensions: number): { float32: number; half: number } {
  // A generated template (two of them end to end for 768-d), unit length as every model's output.
  const template = f32.slice(0, dimensions);
  const norm = Math.hypot(...template);
  template.forEach((x, i) => (template[i] = x / norm));
  const value = {
    id: "TAJ-2026_000123", modality: Modality.FACE, modelId: "faceplugin-fr-feature-512/align5-v1", enrolledAt: timestampFromMs(Date.UTC(2026, 11, 2)),
    quality: { box: { xPx: 412, yPx: 230, widthPx: 311, heightPx: 388 }, detectionScore: 0.998, interOcularPx: 121.5, imageWidthPx: 1920, imageHeightPx: 1080 },
  };
  const bytesWith = (t: object) => encodeTemplateEvent(create(TemplateEventSchema, { event: { case: "enrolled", value: { ...value, ...t } } })).length;
  return { float32: bytesWith({ template: [...template] }), half: bytesWith({ templateF16: encodeTemplateF16(template) }) };
}
const records = { face512: recordBytes(512), tattooMark768: recordBytes(768) };

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
const lines = [
  `template log in half precision: ${size} generated gallery templates (${dim}-d), ${probeCount} probes, recall@${k} against the exact float32 top-${k}, exhaustive search`,
  "",
  `variant                                     recall@${k}   ranked list = exact float32's`,
  ...results.map((r) => `${r.variant.padEnd(42)} ${pct(r.recallAtK).padStart(9)}   ${pct(r.identicalRankedLists).padStart(9)}`),
  "",
  `recall@${k} change from the half-precision log (int8 after - int8 before): ${((after.recallAtK - before.recallAtK) * 100).toFixed(2)} points`,
  `probes whose int8 top-${k} is unchanged (same ids, same order) by the half-precision log: ${pct(unchanged)}`,
  `|cos(half record, probe) - cos(float32 record, probe)| over ${pairs} pairs: mean ${(sumHalf / pairs).toExponential(2)}, max ${maxHalf.toExponential(2)}`,
  `for scale, the shard's int8 (both sides quantised): mean |cos(int8) - cos(float32)| ${(sumInt8 / pairs).toExponential(2)}`,
  "",
  "bytes per log record (TemplateEvent with a TemplateEnrolled: id, model id, quality, time)",
  `  512-d face:          float32 ${records.face512.float32} B -> half ${records.face512.half} B (${pct(records.face512.half / records.face512.float32)})`,
  `  768-d tattoo/mark:   float32 ${records.tattooMark768.float32} B -> half ${records.tattooMark768.half} B (${pct(records.tattooMark768.half / records.tattooMark768.float32)})`,
];
const table = lines.join("\n");
mkdirSync(values.out, { recursive: true });
const out = join(values.out, "log-precision.json");
writeFileSync(out, JSON.stringify({
  createdAt: new Date().toISOString(), loadAverage: loadavg(), seed, size, probes: probeCount, k, dimensions: dim,
  results: results.map(({ found: _found, ...r }) => r), int8TopKUnchangedByHalf: unchanged,
  recallChangePoints: (after.recallAtK - before.recallAtK) * 100,
  cosineError: { pairs, halfMeanAbs: sumHalf / pairs, halfMaxAbs: maxHalf, int8MeanAbs: sumInt8 / pairs },
  recordBytes: records,
}, null, 2) + "\n");
console.log(table);
log(`wrote ${out}`);
