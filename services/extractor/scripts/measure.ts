// Measures faces found per sample photo, stage timings and genuine/impostor similarity.
// Usage: node --import tsx services/extractor/scripts/measure.ts [modalities.json]
import { readFileSync } from "node:fs";
import sharp from "sharp";
import { Modality } from "@taj/proto";
import { AppError } from "@taj/common";
import { Extractor, type Extraction } from "../src/extractor.ts";
import { loadModalities } from "../src/pipeline-config.ts";
import { FacePipeline } from "../src/face/face-pipeline.ts";
import { decodeImage } from "../src/decode.ts";
import { toPixelBox } from "../src/face/face-pipeline.ts";
import { cosine, renderings, samplePath, SAMPLES } from "../test/renderings.ts";

const limits = { maxBytes: 15 * 1024 * 1024, maxPixels: 40_000_000 };
const modalities = loadModalities(process.argv[2]);
const extractor = await Extractor.create(modalities, limits, Number(process.env.ORT_THREADS ?? 1));
const face = extractor.pipeline(Modality.FACE) as FacePipeline;

interface Enrolled { photo: string; index: number; template: Float32Array; bytes: Buffer; box: Extraction["quality"]["box"] }
const enrolled: Enrolled[] = [];
const stage: Record<string, number[]> = { decodeMs: [], detectMs: [], landmarksMs: [], embedMs: [], totalMs: [] };
for (const name of SAMPLES) {
  const bytes = readFileSync(samplePath(name));
  const image = await decodeImage(bytes, limits);
  const faces = await face.detectFaces(image);
  let ok = 0;
  const refused: string[] = [];
  for (const [index, f] of faces.entries()) {
    try {
      const t0 = performance.now();
      const r = await extractor.extract(Modality.FACE, bytes, { faceBox: toPixelBox(f.box) });
      const total = performance.now() - t0;
      for (const k of ["decodeMs", "detectMs", "landmarksMs", "embedMs"] as const) stage[k]!.push(r.timings[k]);
      stage.totalMs!.push(total);
      enrolled.push({ photo: name, index, template: r.template, bytes, box: r.quality.box });
      ok++;
    } catch (err) {
      refused.push(`${AppError.from(err).message} (score ${f.detection.score.toFixed(2)}, box ${Math.round(f.box.x2 - f.box.x1)}px)`);
    }
  }
  console.log(`${name}: ${image.width}x${image.height} faces=${faces.length} enrolled=${ok}`, refused.length ? refused : "");
}
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
console.log("p50 ms:", Object.fromEntries(Object.entries(stage).map(([k, v]) => [k, +p50(v).toFixed(1)])));

// Single portraits (the usual probe): each face cut out with a margin, no tiling needed.
const portrait: Record<string, number[]> = { decodeMs: [], detectMs: [], landmarksMs: [], embedMs: [] };
for (const e of enrolled) {
  const left = Math.max(0, Math.round(e.box.x - e.box.width * 0.4)), top = Math.max(0, Math.round(e.box.y - e.box.height * 0.4));
  const bytes = await sharp(e.bytes).extract({ left, top, width: Math.round(e.box.width * 1.8), height: Math.round(e.box.height * 1.8) }).jpeg().toBuffer();
  const r = await extractor.extract(Modality.FACE, bytes);
  for (const k of ["decodeMs", "detectMs", "landmarksMs", "embedMs"] as const) portrait[k]!.push(r.timings[k]);
}
console.log("portrait p50 ms:", Object.fromEntries(Object.entries(portrait).map(([k, v]) => [k, +p50(v).toFixed(1)])));

let rank1 = 0, trials = 0, minGenuine = 1, maxImpostor = -1;
const genuineAll: number[] = [];
const failures: string[] = [];
for (const e of enrolled) {
  for (const r of await renderings(e.bytes, e.box)) {
    trials++;
    let probe: Float32Array;
    try {
      probe = (await extractor.extract(Modality.FACE, r.bytes, { faceBox: r.box })).template;
    } catch (err) {
      failures.push(`${e.photo}#${e.index} ${r.name}: ${AppError.from(err).message}`);
      continue;
    }
    const genuine = cosine(probe, e.template);
    const impostor = Math.max(...enrolled.filter((o) => o !== e).map((o) => cosine(probe, o.template)));
    genuineAll.push(genuine);
    if (genuine < 0.8) console.log(`   low genuine ${e.photo}#${e.index} ${r.name}: ${genuine.toFixed(3)}`);
    minGenuine = Math.min(minGenuine, genuine);
    maxImpostor = Math.max(maxImpostor, impostor);
    if (genuine > impostor) rank1++;
    else failures.push(`${e.photo}#${e.index} ${r.name}: genuine ${genuine.toFixed(3)} <= impostor ${impostor.toFixed(3)}`);
  }
}
let impostorPairs: number[] = [];
for (let i = 0; i < enrolled.length; i++) for (let j = i + 1; j < enrolled.length; j++) impostorPairs.push(cosine(enrolled[i]!.template, enrolled[j]!.template));
impostorPairs = impostorPairs.sort((a, b) => a - b);
console.log(`enrolled=${enrolled.length} rank1=${rank1}/${trials} genuine p50=${p50(genuineAll).toFixed(3)} min=${minGenuine.toFixed(3)} max impostor(probe)=${maxImpostor.toFixed(3)} impostor pairs p50=${p50(impostorPairs).toFixed(3)} max=${impostorPairs.at(-1)?.toFixed(3)}`);
for (const f of failures) console.log("  ", f);
const stats = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { m, v: xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length };
};
const g = stats(genuineAll), im = stats(impostorPairs);
console.log(`genuine mean ${g.m.toFixed(3)}; impostor mean ${im.m.toFixed(3)} p95 ${impostorPairs[Math.floor(impostorPairs.length * 0.95)]?.toFixed(3)}; d' = ${((g.m - im.m) / Math.sqrt((g.v + im.v) / 2)).toFixed(2)}`);
const pairs: string[] = [];
for (let i = 0; i < enrolled.length; i++) for (let j = i + 1; j < enrolled.length; j++) {
  const s = cosine(enrolled[i]!.template, enrolled[j]!.template);
  if (s > 0.35) pairs.push(`${enrolled[i]!.photo}#${enrolled[i]!.index} ~ ${enrolled[j]!.photo}#${enrolled[j]!.index}: ${s.toFixed(3)}`);
}
console.log("impostor pairs > 0.35:", pairs);
