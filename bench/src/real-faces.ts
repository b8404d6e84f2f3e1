import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, Modality } from "@taj/proto";
import { AppError } from "@taj/common";
import { Extractor, loadModalities, type StageTimings } from "@taj/extractor";
import { buildSampleSet } from "../../packages/eval/test/sample-set.ts";
import { dot, moments, type Moments } from "./generator.ts";

/** One image of the labelled sample-face set, extracted in process on one thread. */
export interface RealFace {
  identity: string;
  /** Which group photo the face was cut from ("sample3"). */
  photo: string;
  file: string;
  bytes: Buffer;
  template: Float32Array;
  /** Between the eye centres, as the extractor reports it. */
  interOcularPx: number;
  timings: StageTimings;
  /** Wall time of the whole extraction, ms (two passes when the image held several faces). */
  totalMs: number;
}

export const LIMITS = { maxBytes: 15 * 1024 * 1024, maxPixels: 40_000_000 };

/**
 * Builds the labelled set of @taj/eval's tests (21 people from the six sample photos: a portrait
 * and four renderings per face; one woman in two photos) and extracts every image with the
 * extractor's own code, 1 onnxruntime thread. An image with several faces is scored on its
 * largest, as the eval command does; its timings then add up both passes.
 */
export async function extractSampleFaces(): Promise<RealFace[]> {
  const root = await mkdtemp(join(tmpdir(), "taj-bench-faces-"));
  try {
    await buildSampleSet(root);
    return await extractSet(root, await Extractor.create(loadModalities(undefined), LIMITS, 1));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Every sample-set image under `root` (as buildSampleSet lays it out) through `extractor`. */
export async function extractSet(root: string, extractor: Extractor): Promise<RealFace[]> {
  const out: RealFace[] = [];
  for (const identity of (await readdir(root)).sort()) {
    for (const file of (await readdir(join(root, identity))).sort()) {
      if (!/^sample\d-\d-.*\.(jpg|png)$/.test(file)) continue;
      const bytes = await readFile(join(root, identity, file));
      const r = await extractLargest(extractor, bytes);
      if (r === undefined) continue;
      out.push({ identity, photo: file.split("-")[0]!, file, bytes, ...r });
    }
  }
  return out;
}

export async function extractLargest(extractor: Extractor, bytes: Buffer): Promise<Omit<RealFace, "identity" | "photo" | "file" | "bytes"> | undefined> {
  const timings: StageTimings = { decodeMs: 0, detectMs: 0, landmarksMs: 0, embedMs: 0 };
  const add = (t: StageTimings) => {
    timings.decodeMs += t.decodeMs; timings.detectMs += t.detectMs; timings.landmarksMs += t.landmarksMs; timings.embedMs += t.embedMs;
  };
  const started = performance.now();
  try {
    const r = await extractor.extract(Modality.FACE, bytes);
    add(r.timings);
    return { template: r.template, interOcularPx: r.quality.interOcularPx, timings, totalMs: performance.now() - started };
  } catch (err) {
    const e = AppError.from(err);
    if (e.code !== ErrorCode.MULTIPLE_FACES || e.faces.length === 0) return undefined;
    // The failed first pass cost decode + detect; count it as the service would spend it.
    const first = performance.now() - started;
    timings.decodeMs += first / 2; timings.detectMs += first / 2;
    const box = e.faces.reduce((a, b) => (a.widthPx * a.heightPx >= b.widthPx * b.heightPx ? a : b));
    try {
      const r = await extractor.extract(Modality.FACE, bytes, { faceBox: { x: box.xPx, y: box.yPx, width: box.widthPx, height: box.heightPx } });
      add(r.timings);
      return { template: r.template, interOcularPx: r.quality.interOcularPx, timings, totalMs: performance.now() - started };
    } catch {
      return undefined;
    }
  }
}

export interface Calibration {
  measuredAt: string;
  images: number;
  identities: number;
  /** Same face, same photo: portrait vs renderings (and renderings among themselves). */
  rerendering: Moments;
  /** Same person, different photos (one person appears in two of the six photos). */
  crossPhoto: Moments;
  impostor: Moments;
}

/** Similarity statistics of the real model on the sample set. */
export function calibrate(faces: readonly RealFace[]): Calibration {
  const rerendering: number[] = [], crossPhoto: number[] = [], impostor: number[] = [];
  for (let i = 0; i < faces.length; i++) {
    for (let j = i + 1; j < faces.length; j++) {
      const a = faces[i]!, b = faces[j]!;
      const s = dot(a.template, b.template);
      if (a.identity !== b.identity) impostor.push(s);
      else if (a.photo === b.photo) rerendering.push(s);
      else crossPhoto.push(s);
    }
  }
  return {
    measuredAt: new Date().toISOString(),
    images: faces.length,
    identities: new Set(faces.map((f) => f.identity)).size,
    rerendering: moments(rerendering),
    crossPhoto: moments(crossPhoto),
    impostor: moments(impostor),
  };
}
