import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { generatorFor, probeMatrix, row, type DatasetSpec } from "./dataset.ts";
import { latency, recallAt, round, rssBytes, type Latency } from "./stats.ts";
import type { Engine } from "./engines/types.ts";

/** In run order: the truth first, then the matched-recall reference, then the engines tuned to it. */
export const ENGINE_NAMES = ["exact-f32", "usearch-exhaustive-i8", "usearch-hnsw-i8", "hnswlib-node", "lancedb"] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];
/** The approximate engines: each is tuned, by its own effort knob, to the reference's recall. */
export const TUNED_ENGINES: readonly EngineName[] = ["usearch-hnsw-i8", "hnswlib-node", "lancedb"];
/**
 * Matched recall is the reference's recall@10 less this: a graph over the shard's int8 can at best
 * equal the exact scan over the same int8 (measured at 100 k: 98.74 % at expansion 1 024 against
 * the scan's 98.78 %), so "the same recall" would be out of reach by construction.
 */
export const MATCHED_RECALL_SLACK = 0.005;

export interface EngineJob {
  engine: EngineName;
  spec: DatasetSpec;
  /** Scratch dir for the engine's files. */
  dir: string;
  out: string;
  /** Exact top-k per probe (gallery indexes); absent for the exact engine itself, which writes it. */
  truthPath: string;
  k: number;
  /** Tune the effort knob to the first value whose recall@k reaches this. */
  targetRecall?: number;
  /** Stop tuning after this long (the last value tried is kept). */
  tuneBudgetMs: number;
}

/** What a build had done when last reported: read by the parent when it stops a build for time. */
export interface BuildProgressRecord {
  phase: "insert" | "index";
  templatesAdded: number;
  size: number;
  /** Since the build started. */
  seconds: number;
  /** Inserts per second so far; with size, the whole insert phase's projected duration. */
  insertsPerSecond: number;
}

export function progressPath(job: Pick<EngineJob, "out">): string {
  return `${job.out}.progress.json`;
}

/** Writes the build's progress to the job's progress file, at most every few seconds. */
function progressWriter(job: EngineJob, size: number, started: number): (added: number, phase?: "insert" | "index") => void {
  let lastWrite = 0, lastPhase = "insert";
  return (added, phase = "insert") => {
    const now = performance.now();
    if (now - lastWrite < 5_000 && phase === lastPhase && added < size) return;
    lastWrite = now;
    lastPhase = phase;
    const seconds = (now - started) / 1000;
    const record: BuildProgressRecord = { phase, templatesAdded: added, size, seconds: round(seconds), insertsPerSecond: round(added / Math.max(seconds, 1e-3)) };
    writeFileSync(progressPath(job), JSON.stringify(record));
  };
}

export interface EngineResult {
  engine: EngineName;
  size: number;
  settings: Record<string, unknown>;
  buildSeconds: number;
  buildPerSecond: number;
  rssDeltaBytes: number;
  memoryBytesPerTemplate: number;
  diskBytes: number;
  diskBytesPerTemplate: number;
  effortName?: string;
  effort?: number;
  tuning: { effort: number; recallAtK: number; p50Ms: number }[];
  recallAt1: number;
  recallAt10: number;
  latency: Latency;
  searchesPerSecond: number;
  /** All probes in one pass over a streamed gallery: latency is that pass / probes, not one search. */
  batched?: boolean;
}

/**
 * The recall the approximate engines are tuned to: the shard's exhaustive int8 scan, the cluster's
 * default mode and what a search gives today ("what would a graph, ours or another library's, need
 * to match it"). Without it, usearch's HNSW at the shard's default expansion.
 */
export function matchedRecallReference(engines: Partial<Record<EngineName, EngineResult>>): EngineResult | undefined {
  return engines["usearch-exhaustive-i8"] ?? engines["usearch-hnsw-i8"];
}

async function load(name: EngineName): Promise<Engine> {
  switch (name) {
    case "exact-f32": return new (await import("./engines/usearch.ts")).ExactF32();
    case "usearch-hnsw-i8": return new (await import("./engines/usearch.ts")).UsearchHnsw();
    case "usearch-exhaustive-i8": return new (await import("./engines/usearch.ts")).UsearchExhaustiveI8();
    case "hnswlib-node": return new (await import("./engines/hnswlib.ts")).HnswlibEngine();
    case "lancedb": return new (await import("./engines/lancedb.ts")).LancedbEngine();
  }
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  g?.();
  g?.();
}

export async function searchAll(engine: Engine, probes: Float32Array, count: number, dim: number, k: number): Promise<{ results: number[][]; ms: number[] }> {
  if (engine.searchAll) {
    const t = performance.now();
    const results = engine.searchAll(probes, count, k);
    return { results, ms: new Array<number>(count).fill((performance.now() - t) / count) };
  }
  const results: number[][] = [], ms: number[] = [];
  for (let q = 0; q < count; q++) {
    const t = performance.now();
    results.push(await engine.search(row(probes, q, dim), k));
    ms.push(performance.now() - t);
  }
  return { results, ms };
}

/**
 * Raises the engine's search effort step by step until recall@k reaches the job's target, the
 * effort list ends, or the tuning budget is spent; onStep sees each step as it is measured.
 */
export async function tuneToTarget(
  engine: Engine, probes: Float32Array, truth: readonly (readonly number[])[], job: Pick<EngineJob, "spec" | "k" | "targetRecall" | "tuneBudgetMs">,
  onStep: (tuning: EngineResult["tuning"]) => void = () => {},
): Promise<{ tuning: EngineResult["tuning"]; effort: number | undefined }> {
  const tuning: EngineResult["tuning"] = [];
  let effort: number | undefined;
  const started = performance.now();
  for (const e of engine.efforts) {
    engine.setEffort(e);
    const { results, ms } = await searchAll(engine, probes, job.spec.probes, probes.length / job.spec.probes, job.k);
    const r = recallAt(job.k, results, truth);
    tuning.push({ effort: e, recallAtK: round(r, 4), p50Ms: latency(ms).p50Ms });
    effort = e;
    onStep(tuning);
    if (r >= (job.targetRecall ?? 1) || performance.now() - started > job.tuneBudgetMs) break;
  }
  return { tuning, effort };
}

/** Builds one engine on the data set, tunes it to the target recall if asked, measures it. */
export async function runEngine(job: EngineJob): Promise<EngineResult> {
  rmSync(job.dir, { recursive: true, force: true });
  rmSync(progressPath(job), { force: true });
  mkdirSync(job.dir, { recursive: true });
  const engine = await load(job.engine);
  const gen = generatorFor(job.spec);
  const probes = probeMatrix(gen, job.spec.probes).vectors;
  const n = job.spec.probes, dim = gen.dim;
  gc();
  const rss0 = rssBytes();
  const t0 = performance.now();
  await engine.build(gen, job.dir, progressWriter(job, gen.size, t0));
  const buildSeconds = (performance.now() - t0) / 1000;
  gc();
  const rssDelta = rssBytes() - rss0;

  // Warm-up: first searches fault pages in and JIT the glue (a batch-only engine is one pass anyway).
  if (!engine.searchAll) await searchAll(engine, probes, Math.min(20, n), dim, job.k);

  const truth = job.engine === "exact-f32" ? undefined : (JSON.parse(readFileSync(job.truthPath, "utf8")) as number[][]);
  let tuning: EngineResult["tuning"] = [];
  let effort: number | undefined;
  if (truth !== undefined && job.targetRecall !== undefined && engine.efforts.length > 0) {
    ({ tuning, effort } = await tuneToTarget(engine, probes, truth, job));
  } else if (engine.efforts.length > 0) {
    effort = 64;
    engine.setEffort(effort);
  }

  const { results, ms } = await searchAll(engine, probes, n, dim, job.k);
  if (job.engine === "exact-f32") writeFileSync(job.truthPath, JSON.stringify(results));
  const reference = truth ?? results;
  const diskBytes = await engine.save(job.dir);
  return engineResult(job.engine, engine, gen.size, { buildSeconds, rssDelta, diskBytes, effort, tuning, results, reference, ms });
}

/** What one engine measured, as the result file records it. */
export function engineResult(name: EngineName, engine: Engine, size: number, m: {
  buildSeconds: number; rssDelta: number; diskBytes: number; effort: number | undefined; tuning: EngineResult["tuning"];
  results: number[][]; reference: readonly (readonly number[])[]; ms: number[];
}): EngineResult {
  const lat = latency(m.ms);
  return {
    engine: name,
    size,
    settings: engine.settings,
    buildSeconds: round(m.buildSeconds),
    buildPerSecond: round(size / m.buildSeconds),
    rssDeltaBytes: m.rssDelta,
    memoryBytesPerTemplate: round(m.rssDelta / size),
    diskBytes: m.diskBytes,
    diskBytesPerTemplate: round(m.diskBytes / size),
    ...(engine.effortName !== undefined && m.effort !== undefined ? { effortName: engine.effortName, effort: m.effort } : {}),
    tuning: m.tuning,
    recallAt1: round(recallAt(1, m.results, m.reference), 4),
    recallAt10: round(recallAt(10, m.results, m.reference), 4),
    latency: lat,
    searchesPerSecond: round(1000 / lat.meanMs),
    ...(engine.searchAll ? { batched: true } : {}),
  };
}

// Child-process entry: `node --expose-gc --import tsx engine-run.ts <job.json>`, so each engine's
// memory is measured alone and a crash in a native add-on costs only its own row.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const job = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as EngineJob;
  const result = await runEngine(job);
  writeFileSync(job.out, JSON.stringify(result, null, 2));
  process.exit(0);
}
