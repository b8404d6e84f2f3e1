import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { ErrorCode, Modality } from "@taj/proto";
import { AppError } from "@taj/common";
import { Extractor, loadModalities, type ExtractOptions, type StageTimings } from "@taj/extractor";
import { loadSamplePhotos } from "@taj/samples";
import { buildSampleSet } from "../../packages/eval/test/sample-set.ts";
import { dot } from "./generator.ts";
import { extractLargest, LIMITS } from "./real-faces.ts";
import { percentile, round } from "./stats.ts";

/**
 * The face pipeline's optional costs, on the labelled sample-face set: landmark jitter on and off
 * (7 landmark passes on shifted and scaled boxes, or one), and the detector on the shrunk copy or
 * on the full image. Genuine and impostor scores, rank-1 and ms per stage; the extractors take
 * each image in turn, so all see the same machine load.
 * `node --import tsx bench/src/face-stages.ts [--rounds 3]`
 */
const VARIANTS = [
  { name: "jitter 0.03 (7 passes)", jitter: 0.03, minReduction: 1.5, maxTileScale: 3 },
  { name: "jitter 0 (1 pass)", jitter: 0, minReduction: 1.5, maxTileScale: 3 },
  { name: "jitter 0, detector on full image", jitter: 0, minReduction: 1e9, maxTileScale: 3 },
  { name: "jitter 0.03, detector on full image (before)", jitter: 0.03, minReduction: 1e9, maxTileScale: 3 },
  // The plain detect-landmarks-embed pipeline the issue compares with: small faces are lost.
  { name: "plain: no tiles, jitter 0", jitter: 0, minReduction: 1.5, maxTileScale: 0 },
] as const;

type Stage = "decodeMs" | "detectMs" | "landmarksMs" | "embedMs";

interface Image {
  identity: string;
  file: string;
  bytes: Buffer;
}

interface VariantResult {
  name: string;
  jitter: number;
  images: number;
  genuine: { pairs: number; median: number; p10: number; min: number };
  impostor: { pairs: number; median: number; p99: number; max: number };
  /** Rank-1 over every image as a probe against one enrolled image (the portrait) per person. */
  rank1: number;
  /** Probes whose best match was another person. */
  misses: string[];
  /** Median over images of this variant's inter-ocular distance / the first variant's. */
  interOcularVsFirst: number;
  msPerStage: Record<Stage | "totalMs", number>;
  /** Large photos: every face of the six 1920 px group photos by face_box, and 3000/5000 px portraits. */
  large: { extractions: number; refused: number; msPerStage: Record<Stage | "totalMs", number> };
}

interface LargeCase {
  bytes: Buffer;
  options: ExtractOptions;
}

/** Every face of the group photos (their boxes from MULTIPLE_FACES) and one face blown up to 3000 and 5000 px. */
async function largeCases(extractor: Extractor): Promise<LargeCase[]> {
  const cases: LargeCase[] = [];
  const photos = await loadSamplePhotos();
  for (const photo of photos) {
    try {
      await extractor.extract(Modality.FACE, photo.bytes);
      cases.push({ bytes: photo.bytes, options: {} });
    } catch (err) {
      const e = AppError.from(err);
      if (e.code !== ErrorCode.MULTIPLE_FACES) throw err;
      for (const f of e.faces) cases.push({ bytes: photo.bytes, options: { faceBox: { x: f.xPx, y: f.yPx, width: f.widthPx, height: f.heightPx } } });
    }
  }
  const face = await sharp(photos[2]!.bytes).extract({ left: 650, top: 100, width: 500, height: 500 }).toBuffer();
  for (const width of [3000, 5000]) cases.push({ bytes: await sharp(face).resize(width).jpeg({ quality: 90 }).toBuffer(), options: {} });
  return cases;
}

function stageMedians(timings: readonly StageTimings[], totals: readonly number[]): Record<Stage | "totalMs", number> {
  const stage = (k: Stage) => round(percentile(timings.map((t) => t[k]), 50), 2);
  return { decodeMs: stage("decodeMs"), detectMs: stage("detectMs"), landmarksMs: stage("landmarksMs"), embedMs: stage("embedMs"), totalMs: round(percentile(totals, 50), 2) };
}

async function loadImages(root: string): Promise<Image[]> {
  const out: Image[] = [];
  for (const identity of (await readdir(root)).sort()) {
    for (const file of (await readdir(join(root, identity))).sort()) {
      if (/^sample\d-\d-.*\.(jpg|png)$/.test(file)) out.push({ identity, file, bytes: await readFile(join(root, identity, file)) });
    }
  }
  return out;
}

interface Extracted {
  template: Float32Array;
  interOcularPx: number;
}

export function summarise(
  name: string,
  jitter: number,
  images: readonly Image[],
  extracted: readonly (Extracted | undefined)[],
  first: readonly (Extracted | undefined)[],
  timings: StageTimings[],
  totals: number[],
  large: VariantResult["large"],
): VariantResult {
  const templates = extracted.map((e) => e?.template);
  const genuine: number[] = [], impostor: number[] = [];
  const kept = images.flatMap((img, i) => (templates[i] === undefined ? [] : [{ ...img, template: templates[i]! }]));
  for (let i = 0; i < kept.length; i++) {
    for (let j = i + 1; j < kept.length; j++) {
      (kept[i]!.identity === kept[j]!.identity ? genuine : impostor).push(dot(kept[i]!.template, kept[j]!.template));
    }
  }
  // The first image of each person (its portrait) is the enrolled one.
  const enrolled = new Map<string, Float32Array>();
  for (const k of kept) if (!enrolled.has(k.identity)) enrolled.set(k.identity, k.template);
  let hits = 0, probes = 0;
  const misses: string[] = [];
  for (const k of kept) {
    if (enrolled.get(k.identity) === k.template) continue;
    probes++;
    let best = "", bestScore = -2;
    for (const [id, t] of enrolled) {
      const s = dot(k.template, t);
      if (s > bestScore) [best, bestScore] = [id, s];
    }
    if (best === k.identity) hits++;
    else misses.push(`${k.identity}/${k.file} (own ${dot(k.template, enrolled.get(k.identity)!).toFixed(3)} < ${best} ${bestScore.toFixed(3)})`);
  }
  return {
    name,
    jitter,
    images: kept.length,
    genuine: { pairs: genuine.length, median: round(percentile(genuine, 50), 4), p10: round(percentile(genuine, 10), 4), min: round(Math.min(...genuine), 4) },
    impostor: { pairs: impostor.length, median: round(percentile(impostor, 50), 4), p99: round(percentile(impostor, 99), 4), max: round(Math.max(...impostor), 4) },
    rank1: round(hits / Math.max(1, probes), 4),
    misses,
    interOcularVsFirst: round(percentile(extracted.flatMap((e, i) => (e === undefined || first[i] === undefined ? [] : [e.interOcularPx / first[i]!.interOcularPx])), 50), 4),
    msPerStage: stageMedians(timings, totals),
    large,
  };
}

export async function runFaceStages(rounds: number): Promise<VariantResult[]> {
  const root = await mkdtemp(join(tmpdir(), "taj-bench-stages-"));
  try {
    await buildSampleSet(root);
    const images = await loadImages(root);
    const extractors = await Promise.all(
      VARIANTS.map((v) => {
        const modalities = loadModalities(undefined);
        if (modalities.face?.kind !== "face") throw new Error("the built-in config has no face pipeline");
        modalities.face.landmarks.jitter = v.jitter;
        modalities.face.detector.minReduction = v.minReduction;
        modalities.face.detector.maxTileScale = v.maxTileScale;
        return Extractor.create(modalities, LIMITS, 1);
      }),
    );
    const extracted = VARIANTS.map(() => images.map((): Extracted | undefined => undefined));
    const timings = VARIANTS.map((): StageTimings[] => []);
    const totals = VARIANTS.map((): number[] => []);
    // Timings from every round; templates are the same each round (the pipeline is deterministic).
    for (let pass = 0; pass < rounds; pass++) {
      for (const [i, image] of images.entries()) {
        for (const [v, extractor] of extractors.entries()) {
          const r = await extractLargest(extractor, image.bytes);
          if (r === undefined) continue;
          extracted[v]![i] = r;
          timings[v]!.push(r.timings);
          totals[v]!.push(r.totalMs);
        }
      }
    }
    const cases = await largeCases(extractors[0]!);
    const large = VARIANTS.map(() => ({ timings: [] as StageTimings[], totals: [] as number[], refused: 0 }));
    for (let pass = 0; pass < rounds; pass++) {
      for (const c of cases) {
        for (const [v, extractor] of extractors.entries()) {
          const started = performance.now();
          try {
            const r = await extractor.extract(Modality.FACE, c.bytes, c.options);
            large[v]!.totals.push(performance.now() - started);
            large[v]!.timings.push(r.timings);
          } catch {
            if (pass === 0) large[v]!.refused++;
          }
        }
      }
    }
    return VARIANTS.map((v, i) =>
      summarise(v.name, v.jitter, images, extracted[i]!, extracted[0]!, timings[i]!, totals[i]!, {
        extractions: cases.length,
        refused: large[i]!.refused,
        msPerStage: stageMedians(large[i]!.timings, large[i]!.totals),
      }),
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export function table(results: readonly VariantResult[]): string {
  const head = ["variant", "images", "genuine median", "genuine p10", "genuine min", "impostor median", "impostor max", "rank-1", "IOD vs first", "decode ms", "detect ms", "landmarks ms", "embed ms", "total ms"];
  const rows = results.map((r) => [
    r.name, r.images, r.genuine.median, r.genuine.p10, r.genuine.min, r.impostor.median, r.impostor.max, r.rank1, r.interOcularVsFirst,
    r.msPerStage.decodeMs, r.msPerStage.detectMs, r.msPerStage.landmarksMs, r.msPerStage.embedMs, r.msPerStage.totalMs,
  ].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  const largeHead = ["variant (large photos)", "extractions", "refused", "decode ms", "detect ms", "landmarks ms", "embed ms", "total ms"];
  const largeRows = results.map((r) => [r.name, r.large.extractions, r.large.refused, r.large.msPerStage.decodeMs, r.large.msPerStage.detectMs, r.large.msPerStage.landmarksMs, r.large.msPerStage.embedMs, r.large.msPerStage.totalMs].map(String));
  const largeWidths = largeHead.map((h, i) => Math.max(h.length, ...largeRows.map((r) => r[i]!.length)));
  const largeLine = (cells: string[]) => cells.map((c, i) => c.padEnd(largeWidths[i]!)).join("  ");
  const misses = results.map((r) => `${r.name} misses: ${r.misses.join(", ") || "none"}`);
  return [line(head), ...rows.map(line), ...misses, "", largeLine(largeHead), ...largeRows.map(largeLine)].join("\n") + "\n";
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf("--rounds");
  const rounds = at > 0 ? Number(process.argv[at + 1]) : 3;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds takes a positive integer");
  const results = await runFaceStages(rounds);
  const out = fileURLToPath(new URL("../results/", import.meta.url));
  await mkdir(out, { recursive: true });
  const text = table(results);
  await writeFile(join(out, "face-stages.json"), JSON.stringify({ measuredAt: new Date().toISOString(), rounds, loadAverage: loadavg(), results }, null, 2) + "\n");
  await writeFile(join(out, "face-stages.txt"), text);
  process.stdout.write(text);
}
