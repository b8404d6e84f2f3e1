import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { modalityFromName, tlsFilesFromEnv } from "@taj/common";
import type { Box } from "@taj/proto";
import { scanDataset } from "./dataset.ts";
import { cmcChart, detChart, histogramChart, writePng } from "./plots.ts";
import { scoreProtocol, type Sample } from "./protocol.ts";
import { buildReport, type EvalReport, type ImageRecord } from "./report.ts";
import { extractOne, grpcSource, inProcessSource } from "./templates.ts";
import { loadRegions, regionKey } from "./regions.ts";

export interface EvalOptions {
  folder: string;
  outDir: string;
  /** "face", "tattoo" or "mark". */
  modality: string;
  maxRank: number;
  /**
   * A JSON file of [{identity, file, box: {x, y, width, height}}] (what `npm run samples:marks`
   * writes as labels.json): each listed image is extracted from its box. Unset: whole images.
   */
  regions?: string | undefined;
  /**
   * Applied to every template before scoring, as a shard applies a modality's projection to what
   * it indexes and to probes (the bench measures with and without one). Unset: raw templates.
   */
  transform?: ((template: Float32Array) => Float32Array) | undefined;
  /** host:port of a running extractor; unset = the extractor's code in this process. */
  extractor?: string | undefined;
  /** Environment the in-process extractor is configured from (MODALITIES_CONFIG, ...); process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Progress lines; nothing by default. */
  progress?: (line: string) => void;
}

export interface EvalResult {
  report: EvalReport;
  files: { metrics: string; cmc: string; det: string; histogram: string };
}

/** Extracts every image of the folder, scores the protocol, writes metrics.json and the plots. */
export async function runEval(options: EvalOptions): Promise<EvalResult> {
  const started = performance.now();
  const modality = modalityFromName(options.modality);
  const folder = resolve(options.folder);
  const dataset = await scanDataset(folder);
  if (dataset.identities.length < 2) throw new Error(`${folder} needs at least two identity sub-folders holding images`);
  const regions = options.regions === undefined ? new Map<string, Box>() : await loadRegions(options.regions);
  const source = options.extractor === undefined ? await inProcessSource(options.env) : grpcSource(options.extractor, tlsFilesFromEnv());

  const samples: Sample[] = [];
  const records: ImageRecord[] = [];
  const modelIds = new Set<string>();
  // Images are in identity then file-name order: each identity's first one is its enrolment.
  const enrolment = new Set(dataset.identities.map((id) => dataset.images.findIndex((i) => i.identity === id)));
  try {
    let done = 0;
    await eachLimited(dataset.images, source.concurrency, async (image, index) => {
      const bytes = await readFile(image.path);
      const result = await extractOne(source, modality, bytes, regions.get(regionKey(image.identity, image.file)));
      const record: ImageRecord = { identity: image.identity, file: image.file, role: enrolment.has(index) ? "enrolled" : "probe" };
      if (result.ok) {
        modelIds.add(result.modelId);
        record.facesFound = result.facesFound;
        if (result.chosenBox) {
          const b = result.chosenBox;
          record.chosenBox = { x: b.xPx, y: b.yPx, width: b.widthPx, height: b.heightPx };
        }
      } else {
        record.failure = result.code;
      }
      records[index] = record;
      const template = result.ok ? (options.transform?.(result.template) ?? result.template) : null;
      samples[index] = { identity: image.identity, file: image.file, template };
      if (++done % 25 === 0) options.progress?.(`extracted ${done}/${dataset.images.length} images`);
    });
  } finally {
    source.close();
  }

  const report = buildReport({
    folder,
    modality: options.modality,
    source: source.description,
    modelIds: [...modelIds],
    seconds: (performance.now() - started) / 1000,
    skippedFiles: dataset.skipped,
    identities: dataset.identities.length,
    maxRank: options.maxRank,
    images: records,
    scores: scoreProtocol(samples),
  });

  await mkdir(options.outDir, { recursive: true });
  const files = {
    metrics: join(options.outDir, "metrics.json"),
    cmc: join(options.outDir, "cmc.png"),
    det: join(options.outDir, "det.png"),
    histogram: join(options.outDir, "score-histogram.png"),
  };
  await writeFile(files.metrics, JSON.stringify(report, null, 2) + "\n");
  await writePng(cmcChart(report), files.cmc);
  await writePng(detChart(report), files.det);
  await writePng(histogramChart(report), files.histogram);
  return { report, files };
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
