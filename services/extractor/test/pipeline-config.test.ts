import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { ErrorCode, Modality } from "@taj/proto";
import { Extractor } from "../src/extractor.ts";
import { DEFAULT_MODALITIES, loadModalities, parseModalities } from "../src/pipeline-config.ts";
import { LIMITS, rejectsWith, sample } from "./fixtures.ts";
import { cosine } from "./renderings.ts";

const modelDir = join(dirname(createRequire(import.meta.url).resolve("faceplugin-face-recognition-js/package.json")), "model");

test("the built-in config is the face pipeline only, with absolute model paths and defaults", () => {
  const config = loadModalities(undefined);
  assert.equal(config.face?.kind, "face");
  assert.equal(config.tattoo, undefined);
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

test("a tattoo pipeline added by configuration alone serves TATTOO; mark stays unsupported", async () => {
  // No tattoo model ships yet: the face embedder stands in, to prove the wiring, not accuracy.
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
