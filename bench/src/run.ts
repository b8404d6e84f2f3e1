import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatSize, type BenchOptions } from "./args.ts";
import { GALLERY_FILE_BYTES_PER_VALUE, generatorFor, probeMatrix, writeGalleryFile, type DatasetSpec } from "./dataset.ts";
import { DEFAULT_PARAMS, generatorStats, type Moments } from "./generator.ts";
import { matchedRecallReference, progressPath, TUNED_ENGINES, MATCHED_RECALL_SLACK, type BuildProgressRecord, type EngineJob, type EngineName, type EngineResult } from "./engine-run.ts";
import { CLUSTER_GRAPH_LIMIT, runClusterBench, type ClusterResult } from "./cluster/cluster-bench.ts";
import { calibrate, extractSampleFaces, type Calibration, type RealFace } from "./real-faces.ts";
import { extractionStats, gatewayImages, type ExtractionResult, type GatewayImageResult } from "./images.ts";
import { roomAt, wontFit } from "./memory-plan.ts";

export interface ScaleResult {
  size: number;
  engines: Partial<Record<EngineName, EngineResult>>;
  engineErrors: Partial<Record<EngineName, string>>;
  /** How far the build of an engine that failed or ran out of time had come. */
  engineProgress?: Partial<Record<EngineName, BuildProgressRecord>>;
  cluster?: ClusterResult;
  clusterError?: string;
  gatewayImages?: GatewayImageResult;
}

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; cpuModel: string; memoryBytes: number; node: string; load: string };
  options: Omit<BenchOptions, "out" | "workDir">;
  generator: { params: typeof DEFAULT_PARAMS; measured: { genuine: Moments; impostor: Moments }; realModel?: Calibration };
  extraction?: ExtractionResult;
  scales: ScaleResult[];
}

function withoutPaths(o: BenchOptions): BenchResult["options"] {
  const copy: Partial<BenchOptions> = { ...o };
  delete copy.out;
  delete copy.workDir;
  return copy as BenchResult["options"];
}

const ENGINE_RUN = fileURLToPath(new URL("./engine-run.ts", import.meta.url));

/** Runs one engine in its own process (clean memory figures; a native crash costs one row). */
function runEngineChild(job: EngineJob, timeoutMinutes: number, log: (m: string) => void): Promise<EngineResult> {
  rmSync(progressPath(job), { force: true });
  const jobPath = `${job.out}.job.json`;
  writeFileSync(jobPath, JSON.stringify(job));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", ENGINE_RUN, jobPath], { stdio: ["ignore", "inherit", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      const text = d.toString();
      // LanceDB logs a deprecation warning per query; keep the rest.
      if (!/Deprecation warning/.test(text)) stderr = (stderr + text).slice(-4000);
    });
    const timer = setTimeout(() => {
      log(`${job.engine}: over ${timeoutMinutes} min, stopping it`);
      child.kill("SIGKILL");
    }, timeoutMinutes * 60_000);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(readFileSync(job.out, "utf8")) as EngineResult);
      else reject(new Error(`${job.engine} exited with ${code ?? signal}: ${stderr.trim().split("\n").slice(-5).join(" | ")}`));
    });
  });
}

export function describeProgress(p: BuildProgressRecord): string {
  const inserts = p.phase === "insert"
    ? `${p.templatesAdded} of ${p.size} inserted in ${Math.round(p.seconds)} s (${Math.round(p.insertsPerSecond)}/s so far; the inserts alone projected at ${(p.size / Math.max(p.insertsPerSecond, 1e-9) / 3600).toFixed(1)} h)`
    : `all ${p.size} inserted, then in the index pass at ${Math.round(p.seconds)} s`;
  return `build when stopped: ${inserts}`;
}

export async function runBench(o: BenchOptions, log: (m: string) => void, checkpoint: (partial: BenchResult) => void = () => {}): Promise<BenchResult> {
  const startedAt = new Date().toISOString();
  mkdirSync(o.workDir, { recursive: true });
  const load = readFileSync("/proc/loadavg", "utf8").trim();
  const gen0 = generatorFor({ seed: o.seed, size: 1000, probes: 0 });
  const result: BenchResult = {
    startedAt,
    finishedAt: "",
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "?", memoryBytes: totalmem(), node: process.version, load },
    options: withoutPaths(o),
    generator: { params: DEFAULT_PARAMS, measured: generatorStats(gen0, 5000) },
    scales: [],
  };

  let faces: RealFace[] | undefined;
  if (o.images) {
    log("images: extracting the sample-face set in process (1 thread)");
    faces = await extractSampleFaces();
    result.generator.realModel = calibrate(faces);
    result.extraction = extractionStats(faces);
  }

  for (const [si, size] of o.scales.entries()) {
    const dir = join(o.workDir, formatSize(size));
    mkdirSync(dir, { recursive: true });
    // Made once, read by every engine and the cluster feed (generating 1 M templates takes minutes).
    const galleryFile = join(dir, "gallery.f16");
    const noRoom = wontFit("gallery", size, roomAt(o.workDir));
    if (noRoom !== undefined) throw new Error(`${formatSize(size)}: the gallery file cannot be written under ${o.workDir}: ${noRoom.replace(/^skipped: /, "")}`);
    log(`${formatSize(size)}: writing the gallery (${((size * 512 * GALLERY_FILE_BYTES_PER_VALUE) / 2 ** 30).toFixed(1)} GiB) to ${galleryFile}`);
    writeGalleryFile(generatorFor({ seed: o.seed, size, probes: 0 }), galleryFile);
    const spec: DatasetSpec = { seed: o.seed, size, probes: o.probes, galleryFile };
    const truthPath = join(dir, "truth.json");
    const scale: ScaleResult = { size, engines: {}, engineErrors: {} };
    result.scales.push(scale);
    for (const engine of o.engines) {
      const reference = matchedRecallReference(scale.engines);
      const tune = TUNED_ENGINES.includes(engine);
      const job: EngineJob = {
        engine, spec, dir: join(dir, engine), out: join(dir, `${engine}.json`), truthPath, k: 10,
        ...(tune && reference ? { targetRecall: reference.recallAt10 - MATCHED_RECALL_SLACK } : {}),
        tuneBudgetMs: 10 * 60_000,
      };
      const skip = wontFit(engine, size, roomAt(o.workDir));
      if (skip !== undefined) {
        if (engine === "exact-f32") throw new Error(`${formatSize(size)} exact-f32 (the ground truth) ${skip}`);
        scale.engineErrors[engine] = skip;
        log(`${formatSize(size)} ${engine}: ${skip}`);
        continue;
      }
      log(`${formatSize(size)} ${engine}: building`);
      try {
        const r = await runEngineChild(job, o.engineTimeouts[engine] ?? o.engineTimeoutMinutes, log);
        scale.engines[engine] = r;
        log(`${formatSize(size)} ${engine}: recall@10 ${r.recallAt10}, p50 ${r.latency.p50Ms} ms, built in ${r.buildSeconds} s`);
      } catch (err) {
        const progress = existsSync(progressPath(job)) ? (JSON.parse(readFileSync(progressPath(job), "utf8")) as BuildProgressRecord) : undefined;
        if (progress) (scale.engineProgress ??= {})[engine] = progress;
        scale.engineErrors[engine] = `failed: ${(err as Error).message}` + (progress ? `; ${describeProgress(progress)}` : "");
        log(`${formatSize(size)} ${engine}: FAILED ${(err as Error).message}`);
        if (engine === "exact-f32") throw err;
      }
      // Its disk figure is in the result: the next engine gets the room (LanceDB and hnswlib-node
      // take ~45 GB between them at 9 M).
      rmSync(job.dir, { recursive: true, force: true });
      checkpoint(result);
    }

    const clusterSkip = o.cluster ? wontFit("cluster", size, roomAt(o.workDir)) : undefined;
    if (clusterSkip !== undefined) {
      scale.clusterError = clusterSkip;
      log(`${formatSize(size)} cluster: ${clusterSkip}`);
    } else if (o.cluster) {
      const gen = generatorFor(spec);
      const probes = probeMatrix(gen, o.probes).vectors;
      const truth = JSON.parse(readFileSync(truthPath, "utf8")) as number[][];
      try {
        scale.cluster = await runClusterBench({
          gen, probes, truth, k: 10, dir: join(dir, "cluster"), basePort: o.basePort,
          freshnessSamples: o.freshness, concurrency: o.concurrency, throughputSeconds: o.throughputSeconds,
          restart: o.restart && si === o.scales.length - 1,
          graph: o.graph === "auto" && size <= CLUSTER_GRAPH_LIMIT,
          ...(faces ? { withCluster: async (cluster, cpu) => {
            log("images: enrolling the sample portraits and searching with every other image through the gateway");
            scale.gatewayImages = await gatewayImages(cluster, faces, size, cpu);
          } } : {}),
          log,
          partial: (cluster) => {
            scale.cluster = cluster;
            checkpoint(result);
          },
        });
      } catch (err) {
        scale.clusterError = `failed: ${(err as Error).stack ?? String(err)}`;
        log(`${formatSize(size)} cluster: FAILED ${(err as Error).message}`);
      }
    }
    rmSync(galleryFile, { force: true });
    checkpoint(result);
  }
  result.finishedAt = new Date().toISOString();
  return result;
}
