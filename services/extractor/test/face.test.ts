import { test } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { ErrorCode, Modality } from "@taj/proto";
import { AppError } from "@taj/common";
import { decodeImage } from "../src/decode.ts";
import { FacePipeline, toPixelBox } from "../src/face/face-pipeline.ts";
import { loadModalities } from "../src/pipeline-config.ts";
import { iou } from "../src/face/boxes.ts";
import type { PixelBox } from "../src/pipeline.ts";
import { faceExtractor, LIMITS, rejectsWith, sample } from "./fixtures.ts";
import { cosine, renderings, SAMPLES } from "./renderings.ts";

const rect = (b: PixelBox) => ({ x1: b.x, y1: b.y, x2: b.x + b.width, y2: b.y + b.height });

async function facesOf(name: string): Promise<PixelBox[]> {
  const extractor = await faceExtractor();
  const pipeline = extractor.pipeline(Modality.FACE) as FacePipeline;
  const faces = await pipeline.detectFaces(await decodeImage(sample(name), LIMITS));
  return faces.map((f) => toPixelBox(f.box));
}

/** One face of a sample photo, cut out with a margin, optionally shrunk. */
async function portrait(name: string, index: number, width?: number): Promise<Buffer> {
  const box = (await facesOf(name))[index]!;
  const left = Math.max(0, Math.round(box.x - box.width * 0.4)), top = Math.max(0, Math.round(box.y - box.height * 0.4));
  const crop = sharp(sample(name)).extract({ left, top, width: Math.round(box.width * 1.8), height: Math.round(box.height * 1.8) });
  const bytes = await crop.jpeg({ quality: 95 }).toBuffer();
  return width === undefined ? bytes : sharp(bytes).resize(width).jpeg({ quality: 95 }).toBuffer();
}

test("finds the faces of the six sample photos (22 faces, none refused)", async () => {
  const extractor = await faceExtractor();
  const counts: number[] = [];
  for (const name of SAMPLES) {
    const faces = await facesOf(name);
    counts.push(faces.length);
    for (const box of faces) {
      const r = await extractor.extract(Modality.FACE, sample(name), { faceBox: box });
      assert.ok(r.quality.interOcularPx >= 32, `${name}: inter-ocular ${r.quality.interOcularPx}`);
      assert.ok(iou(rect(r.quality.box), rect(box)) > 0.99, "the chosen face is the one asked for");
    }
  }
  // Counted by eye on the photos: 3, 3, 3, 4, 5, 4.
  assert.deepEqual(counts, [3, 3, 3, 4, 5, 4]);
});

test("a single portrait gives a 512-d unit template, quality in image pixels and the model id", async () => {
  const extractor = await faceExtractor();
  const bytes = await portrait("sample6.jpg", 1);
  const { width, height } = await sharp(bytes).metadata();
  const r = await extractor.extract(Modality.FACE, bytes);
  assert.equal(r.template.length, 512);
  assert.equal(r.template.byteLength, 2048);
  assert.ok(Math.abs(cosine(r.template, r.template) - 1) < 1e-5);
  assert.equal(r.modelId, "faceplugin-fr-feature-512/align5-v1");
  assert.deepEqual([r.quality.imageWidth, r.quality.imageHeight], [width, height]);
  const b = r.quality.box;
  assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.width <= width! && b.y + b.height <= height!);
  assert.ok(r.quality.detectionScore > 0.65 && r.quality.detectionScore <= 1);
  assert.ok(r.quality.interOcularPx > 32 && r.quality.interOcularPx < b.width);
  for (const stage of ["decodeMs", "detectMs", "landmarksMs", "embedMs"] as const) assert.ok(r.timings[stage] > 0, stage);
});

test("several faces and no face_box is MULTIPLE_FACES with every box, left to right", async () => {
  const extractor = await faceExtractor();
  const err = await rejectsWith(extractor.extract(Modality.FACE, sample("sample5.jpg")), ErrorCode.MULTIPLE_FACES);
  assert.equal(err.faces.length, 5);
  const xs = err.faces.map((f) => f.xPx);
  assert.deepEqual(xs, [...xs].sort((a, b) => a - b));
  for (const f of err.faces) assert.ok(f.widthPx > 50 && f.heightPx > 50);
});

test("face_box picks the face it overlaps; a box over no face is BOX_MATCHES_NO_FACE", async () => {
  const extractor = await faceExtractor();
  const faces = await facesOf("sample1.jpg");
  const templates = [];
  for (const box of faces) {
    // A looser box than ours, as a human would draw it, still picks the same face.
    const drawn = { x: box.x - box.width * 0.1, y: box.y - box.height * 0.05, width: box.width * 1.2, height: box.height * 1.15 };
    const r = await extractor.extract(Modality.FACE, sample("sample1.jpg"), { faceBox: drawn });
    assert.ok(iou(rect(r.quality.box), rect(box)) > 0.99);
    templates.push(r.template);
  }
  assert.ok(cosine(templates[0]!, templates[1]!) < 0.6, "different faces, different templates");
  await rejectsWith(
    extractor.extract(Modality.FACE, sample("sample1.jpg"), { faceBox: { x: 10, y: 1100, width: 150, height: 150 } }),
    ErrorCode.BOX_MATCHES_NO_FACE,
  );
});

test("no face in the image is NO_FACE", async () => {
  const extractor = await faceExtractor();
  const blank = await sharp({ create: { width: 640, height: 480, channels: 3, background: "#b0a080" } }).jpeg().toBuffer();
  await rejectsWith(extractor.extract(Modality.FACE, blank), ErrorCode.NO_FACE);
  // Legs and a sofa: real photo content, but no face.
  const sofa = await sharp(sample("sample2.jpg")).extract({ left: 0, top: 900, width: 700, height: 450 }).jpeg().toBuffer();
  await rejectsWith(extractor.extract(Modality.FACE, sofa), ErrorCode.NO_FACE);
});

test("a face with less than 32 px between the eyes is FACE_TOO_SMALL", async () => {
  const extractor = await faceExtractor();
  const full = await extractor.extract(Modality.FACE, await portrait("sample6.jpg", 1));
  const { width } = await sharp(await portrait("sample6.jpg", 1)).metadata();
  // Shrink so the eyes end up about 20 px apart.
  const small = await portrait("sample6.jpg", 1, Math.round((width! * 20) / full.quality.interOcularPx));
  const err = await rejectsWith(extractor.extract(Modality.FACE, small), ErrorCode.FACE_TOO_SMALL);
  assert.match(err.message, /32 px/);
});

test("UNSPECIFIED and unknown modalities are UNSUPPORTED_MODALITY", async () => {
  const extractor = await faceExtractor();
  for (const m of [Modality.UNSPECIFIED, 17 as Modality]) {
    await rejectsWith(extractor.extract(m, sample("sample1.jpg")), ErrorCode.UNSUPPORTED_MODALITY);
  }
});

test("an expired deadline is DEADLINE_EXCEEDED without doing the work", async () => {
  const extractor = await faceExtractor();
  await rejectsWith(extractor.extract(Modality.FACE, sample("sample1.jpg"), { deadline: Date.now() - 1 }), ErrorCode.DEADLINE_EXCEEDED);
});

test("every face, re-rendered four ways, is closer to itself than to any other sample face", async () => {
  const extractor = await faceExtractor();
  const enrolled: { label: string; bytes: Buffer; box: PixelBox; template: Float32Array; iod: number }[] = [];
  for (const name of SAMPLES) {
    for (const [i, box] of (await facesOf(name)).entries()) {
      const r = await extractor.extract(Modality.FACE, sample(name), { faceBox: box });
      enrolled.push({ label: `${name}#${i}`, bytes: sample(name), box: r.quality.box, template: r.template, iod: r.quality.interOcularPx });
    }
  }
  assert.equal(enrolled.length, 22);
  let checked = 0;
  for (const e of enrolled) {
    for (const r of await renderings(e.bytes, e.box)) {
      let probe: Float32Array;
      try {
        probe = (await extractor.extract(Modality.FACE, r.bytes, { faceBox: r.box })).template;
      } catch (err) {
        // Shrinking to 0.6x may rightly take a face under 32 px between the eyes; nothing else may fail.
        const code = AppError.from(err).code;
        assert.ok(code === ErrorCode.FACE_TOO_SMALL && r.name === "rescaled-0.6" && e.iod * 0.6 < 34, `${e.label} ${r.name}: ${AppError.from(err).message}`);
        continue;
      }
      checked++;
      const genuine = cosine(probe, e.template);
      for (const other of enrolled) {
        if (other === e) continue;
        const impostor = cosine(probe, other.template);
        assert.ok(genuine > impostor, `${e.label} ${r.name}: genuine ${genuine.toFixed(3)} <= ${other.label} ${impostor.toFixed(3)}`);
      }
      assert.ok(genuine > 0.6, `${e.label} ${r.name}: genuine similarity ${genuine.toFixed(3)}`);
    }
  }
  assert.ok(checked >= 85, `only ${checked} of 88 renderings were usable`);
});

test("a large single portrait is one face: tiles neither split it nor invent faces on clothing", async () => {
  const extractor = await faceExtractor();
  const crop = await sharp(sample("sample3.jpg")).extract({ left: 650, top: 100, width: 500, height: 500 }).toBuffer();
  for (const width of [1500, 3000, 5000]) {
    const r = await extractor.extract(Modality.FACE, await sharp(crop).resize(width).jpeg().toBuffer());
    assert.ok(r.quality.interOcularPx > width / 8, `${width}px: inter-ocular ${r.quality.interOcularPx}`);
  }
  const pipeline = extractor.pipeline(Modality.FACE) as FacePipeline;
  // Full pass + 3x3 tiles for the sample photos; a 40-megapixel image stays within the tile bound.
  const detector = (pipeline as unknown as { detector: { regions(w: number, h: number): unknown[] } }).detector;
  assert.equal(detector.regions(1920, 1280).length, 10);
  assert.ok(detector.regions(7300, 5470).length <= 13);
  assert.equal(detector.regions(640, 480).length, 1);
});

test("a box the detector is unsure of is no face: not listed with the real ones, and refused as FACE_QUALITY_LOW when chosen", async () => {
  const extractor = await faceExtractor();
  // Recompressed hard, sample5 gains a 0.71 detection on the stair railing, top left.
  const photo = await sharp(sample("sample5.jpg")).jpeg({ quality: 25 }).toBuffer();
  const railing = { x: 317, y: 9, width: 115, height: 163 };
  const err = await rejectsWith(extractor.extract(Modality.FACE, photo), ErrorCode.MULTIPLE_FACES);
  assert.equal(err.faces.length, 5, "the five people, not the railing");
  assert.ok(err.faces.every((f) => iou(rect({ x: f.xPx, y: f.yPx, width: f.widthPx, height: f.heightPx }), rect(railing)) === 0));
  const refused = await rejectsWith(extractor.extract(Modality.FACE, photo, { faceBox: railing }), ErrorCode.FACE_QUALITY_LOW);
  assert.match(refused.message, /detection score 0\.\d+ is below 0\.85/);
  // The real faces of the same copy still give templates.
  for (const f of err.faces) {
    const r = await extractor.extract(Modality.FACE, photo, { faceBox: { x: f.xPx, y: f.yPx, width: f.widthPx, height: f.heightPx } });
    assert.ok(r.quality.detectionScore >= 0.85);
  }
});

test("detecting on the shrunk copy finds the same faces as on the full image", async () => {
  const extractor = await faceExtractor();
  const shrunk = extractor.pipeline(Modality.FACE) as FacePipeline;
  const config = loadModalities(undefined).face;
  assert.ok(config?.kind === "face");
  const full = await FacePipeline.load({ ...config, detector: { ...config.detector, minReduction: 1e9 } }, 1);
  for (const name of SAMPLES) {
    const image = await decodeImage(sample(name), LIMITS);
    const [a, b] = [await shrunk.detectFaces(image), await full.detectFaces(image)];
    assert.equal(a.length, b.length, name);
    for (const [i, f] of a.entries()) {
      assert.ok(iou(f.detection, b[i]!.detection) > 0.95, `${name} #${i}: boxes apart`);
      assert.ok(Math.abs(f.detection.score - b[i]!.detection.score) < 0.01, `${name} #${i}: scores apart`);
    }
  }
});

test("a photo of no face that the detector half-believes (a hand holding a glass) is FACE_QUALITY_LOW, not a template", async () => {
  const extractor = await faceExtractor();
  const hand = await sharp(sample("sample3.jpg")).extract({ left: 586, top: 744, width: 473, height: 473 }).jpeg({ quality: 90 }).toBuffer();
  const err = await rejectsWith(extractor.extract(Modality.FACE, hand), ErrorCode.FACE_QUALITY_LOW);
  assert.match(err.message, /^not a usable face: detection score 0\.\d+ is below 0\.85$/);
});

test("every_face: a template for each of the five people, left to right, each the template its own face_box gives", async () => {
  const extractor = await faceExtractor();
  const every = await extractor.extractEvery(Modality.FACE, sample("sample5.jpg"), 32);
  assert.equal(every.found, 5);
  assert.equal(every.faces.length, 5);
  const xs = every.faces.map((f) => f.quality.box.x);
  assert.deepEqual(xs, [...xs].sort((a, b) => a - b));
  for (const face of every.faces) {
    assert.ok(!("error" in face), "every face of sample5 is usable");
    const alone = await extractor.extract(Modality.FACE, sample("sample5.jpg"), { faceBox: face.quality.box });
    let dot = 0;
    for (let i = 0; i < alone.template.length; i++) dot += alone.template[i]! * face.template[i]!;
    assert.ok(dot > 0.999, `same face, same template (cosine ${dot})`);
  }
  // Over the limit: the most confident faces are kept, the count says how many there were.
  const two = await extractor.extractEvery(Modality.FACE, sample("sample5.jpg"), 2);
  assert.equal(two.found, 5);
  assert.equal(two.faces.length, 2);
  const scores = every.faces.map((f) => f.quality.detectionScore).sort((a, b) => b - a);
  assert.ok(two.faces.every((f) => f.quality.detectionScore >= scores[1]!));
});

test("every_face: a face too small is answered on its own, the others still get templates; none is NO_FACE", async () => {
  const extractor = await faceExtractor();
  // Shrunk so that the faces' eye distances straddle the 32 px gate.
  // (800 px wide: measured 2 faces over it, 3 under.)
  const photo = await sharp(sample("sample5.jpg")).resize({ width: 800 }).jpeg().toBuffer();
  const every = await extractor.extractEvery(Modality.FACE, photo, 32);
  assert.equal(every.faces.length, 5);
  const errors = every.faces.filter((f) => "error" in f);
  assert.ok(errors.length >= 1 && errors.length < 5, `some faces refused, not all (${errors.length})`);
  for (const f of errors) assert.ok("error" in f && f.error.code === ErrorCode.FACE_TOO_SMALL && f.quality.box.width > 0);
  for (const f of every.faces) if (!("error" in f)) assert.equal(f.template.length, 512);
  const blank = await sharp({ create: { width: 400, height: 300, channels: 3, background: "#808080" } }).jpeg().toBuffer();
  await rejectsWith(extractor.extractEvery(Modality.FACE, blank, 32), ErrorCode.NO_FACE);
  await rejectsWith(extractor.extractEvery(Modality.FACE, sample("sample5.jpg"), 32, { faceBox: { x: 0, y: 0, width: 50, height: 50 } }), ErrorCode.INVALID_ARGUMENT);
});
