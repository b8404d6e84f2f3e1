import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import sharp from "sharp";
import { ErrorCode, Modality } from "@taj/proto";
import { Extractor } from "../src/extractor.ts";
import { BUILT_MODEL_DIR, DEFAULT_MODALITIES, loadModalities, parseModalities } from "../src/pipeline-config.ts";
import { LIMITS, rejectsWith, sample } from "./fixtures.ts";
import { cosine } from "./renderings.ts";

const modelDir = join(dirname(createRequire(import.meta.url).resolve("faceplugin-face-recognition-js/package.json")), "model");

test("the built-in config: face on faceplugin's models, tattoo and mark on the built trunk, absolute paths and defaults", () => {
  const config = loadModalities(undefined);
  assert.equal(config.face?.kind, "face");
  for (const crop of [config.tattoo, config.mark]) {
    assert.equal(crop?.kind, "crop");
    if (crop?.kind !== "crop") return;
    assert.equal(crop.embedder.model, join(BUILT_MODEL_DIR, "inception_v3-mixed4.onnx"));
    assert.deepEqual(crop.embedder.pooling, { kind: "gem", power: 3 });
    assert.deepEqual(crop.embedder.std, [255, 255, 255]);
    assert.deepEqual(crop.quality, { minRegionSidePx: 64, minContrast: 0.006 });
  }
  if (config.face?.kind !== "face") return;
  assert.ok(config.face.detector.model.startsWith("/") && config.face.detector.model.endsWith("fr_detect.onnx"));
  assert.equal(config.face.minInterOcularPx, 32);
  assert.equal(config.face.detector.scoreThreshold, 0.65);
  assert.equal(config.face.alignment.method, "five-point-similarity");
  assert.equal(config.face.detector.contenderMargin, 0.1);
  assert.equal(config.face.landmarks.jitter, 0);
  assert.equal(config.face.quality.minDetectionScore, 0.85);
});

test("a face-quality section given in part keeps the other bounds' defaults; out-of-range bounds are refused", () => {
  const raw = structuredClone(DEFAULT_MODALITIES) as { face: Record<string, unknown> };
  raw.face.quality = { minDetectionScore: 0.95 };
  const parsed = parseModalities(raw, "/").face;
  assert.ok(parsed?.kind === "face");
  assert.deepEqual(parsed.quality, { minDetectionScore: 0.95, minEyeDistanceRatio: 0.12, maxEyeDistanceRatio: 0.6, minFeatureGap: 0.02, boxSlack: 0.15 });
  raw.face.quality = { minDetectionScore: 1.5 };
  assert.throws(() => parseModalities(raw, "/"), /minDetectionScore/);
});

test("invalid configs are refused with the offending field", () => {
  const bad = structuredClone(DEFAULT_MODALITIES) as { face: { alignment: { reference: number[][] } } };
  bad.face.alignment.reference.pop();
  assert.throws(() => parseModalities(bad, "/"), /reference/);
  assert.throws(() => parseModalities({ tattoo: { kind: "crop", modelId: "t", alignment: { method: "sideways" } } }, "/"), /method|embedder/);
});

test("a config file decides the modalities: a tattoo pipeline on another model serves TATTOO; mark left out is unsupported", async () => {
  // Another model than the built-in trunk, to show the pipeline is data: the face embedder here.
  const dir = mkdtempSync(join(tmpdir(), "extractor-config-"));
  try {
    const path = join(dir, "modalities.json");
    const config = {
      face: loadModalities(undefined).face,
      tattoo: {
        kind: "crop",
        modelId: "stand-in-tattoo",
        alignment: { method: "center-crop" },
        embedder: { model: join(modelDir, "fr_feature.onnx"), width: 112, height: 112, dimensions: 512 },
      },
    };
    writeFileSync(path, JSON.stringify(config));
    const extractor = await Extractor.create(loadModalities(path), LIMITS, 1);
    assert.deepEqual(extractor.modalities.sort(), ["face", "tattoo"]);
    const whole = await extractor.extract(Modality.TATTOO, sample("sample3.jpg"));
    assert.equal(whole.modelId, "stand-in-tattoo");
    assert.equal(whole.template.length, 512);
    assert.deepEqual(whole.quality.box, { x: (1920 - 1350) / 2, y: 0, width: 1350, height: 1350 });
    const boxed = await extractor.extract(Modality.TATTOO, sample("sample3.jpg"), { faceBox: { x: 100, y: 100, width: 300, height: 300 } });
    assert.ok(cosine(whole.template, boxed.template) < 0.99, "the box changes what is embedded");
    await rejectsWith(extractor.extract(Modality.MARK, sample("sample3.jpg")), ErrorCode.UNSUPPORTED_MODALITY);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a model file that does not exist stops the start, naming the file (and the build step for the built trunk)", () => {
  const dir = mkdtempSync(join(tmpdir(), "extractor-config-"));
  try {
    const path = join(dir, "modalities.json");
    const tattoo = { kind: "crop", modelId: "t", alignment: { method: "whole-image" }, embedder: { model: "missing.onnx", width: 8, height: 8, dimensions: 8 } };
    writeFileSync(path, JSON.stringify({ tattoo }));
    assert.throws(() => loadModalities(path), { message: `model file ${join(dir, "missing.onnx")} does not exist` });
    const built = { ...tattoo, embedder: { ...tattoo.embedder, model: join(BUILT_MODEL_DIR, "not-built.onnx") } };
    writeFileSync(path, JSON.stringify({ tattoo: built }));
    assert.throws(() => loadModalities(path), /not-built\.onnx does not exist \(run `npm run build:tattoo-model` to build it\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a modality with a second model (an upgrade): chosen by model_id, the default without one, another id refused MODEL_UNAVAILABLE", async () => {
  const dir = mkdtempSync(join(tmpdir(), "extractor-config-"));
  try {
    const path = join(dir, "modalities.json");
    const face = loadModalities(undefined).face!;
    if (face.kind !== "face") throw new Error("the built-in face pipeline");
    // The same networks aligned another way: templates of another model, not comparable with the first's.
    const next = { ...face, modelId: "faceplugin-fr-feature-512/align3-test", alignment: { ...face.alignment, method: "three-point-affine" } };
    writeFileSync(path, JSON.stringify({ face, moreModels: { face: [next] } }));
    const extractor = await Extractor.create(loadModalities(path), LIMITS, 1);
    assert.deepEqual(extractor.models, { face: [face.modelId, next.modelId] });
    // One portrait: sample3's face, cut out.
    const portrait = await sharp(sample("sample3.jpg")).extract({ left: 650, top: 100, width: 500, height: 500 }).jpeg().toBuffer();
    const byDefault = await extractor.extract(Modality.FACE, portrait);
    const first = await extractor.extract(Modality.FACE, portrait, { modelId: face.modelId });
    const second = await extractor.extract(Modality.FACE, portrait, { modelId: next.modelId });
    assert.equal(byDefault.modelId, face.modelId);
    assert.equal(second.modelId, next.modelId);
    assert.ok(cosine(byDefault.template, first.template) > 0.9999, "naming the default model is the default");
    assert.ok(cosine(first.template, second.template) < 0.999, "the second model makes other templates");
    await rejectsWith(extractor.extract(Modality.FACE, portrait, { modelId: "no-such-model" }), ErrorCode.MODEL_UNAVAILABLE);
    writeFileSync(path, JSON.stringify({ face, moreModels: { face: [face] } }));
    assert.throws(() => loadModalities(path), /two pipelines have one modelId/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
