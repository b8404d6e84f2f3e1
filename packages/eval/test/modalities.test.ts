import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";
import { writeMarkDataset } from "@taj/samples";
import { runEval } from "../src/run.ts";
import { formatTable } from "../src/table.ts";

// A crop pipeline for tattoo and mark on the face embedder: a real model that takes any 112 x 112
// crop, standing in for the tattoo trunk so this test needs no built model. It checks the eval's
// handling of a non-face modality, not the accuracy of any model.
const faceplugin = dirname(createRequire(import.meta.url).resolve("faceplugin-face-recognition-js/package.json"));
const crop = (modelId: string) => ({
  kind: "crop",
  modelId,
  alignment: { method: "whole-image" },
  embedder: { model: join(faceplugin, "model", "fr_feature.onnx"), width: 112, height: 112, dimensions: 512 },
});

let work: string;
let env: NodeJS.ProcessEnv;
let markOnly: NodeJS.ProcessEnv;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "taj-eval-modality-"));
  const config = join(work, "modalities.json");
  await writeFile(config, JSON.stringify({ tattoo: crop("test-tattoo"), mark: crop("test-mark") }));
  env = { MODALITIES_CONFIG: config };
  const markConfig = join(work, "mark-only.json");
  await writeFile(markConfig, JSON.stringify({ mark: crop("test-mark") }));
  markOnly = { MODALITIES_CONFIG: markConfig };
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

for (const modality of ["tattoo", "mark"] as const) {
  test(`evaluates a generated ${modality} set with the ${modality} pipeline`, async () => {
    const folder = join(work, modality);
    await writeMarkDataset(folder, { modality, identities: 4, perIdentity: 3, seed: 5, width: 160, height: 160 });
    const { report } = await runEval({ folder, outDir: join(work, `${modality}-out`), modality, maxRank: 3, env });
    assert.equal(report.modality, modality);
    assert.deepEqual(report.modelIds, [`test-${modality}`]);
    assert.equal(report.dataset.identities, 4);
    assert.equal(report.dataset.images, 12);
    // labels.json sits at the root, outside every identity folder: not an image, not skipped.
    assert.deepEqual(report.dataset.skippedFiles, []);
    assert.equal(report.failureToEnrol.failed, 0);
    assert.equal(report.imagesWithSeveralFaces, 0);
    assert.equal(report.identification.matedSearches, 8);
    assert.equal(report.verification.genuinePairs, 4 * 3);
    assert.equal(report.verification.impostorPairs, (12 * 11) / 2 - 12);
    const table = formatTable(report);
    assert.match(table, new RegExp(`modality ${modality}`));
    assert.doesNotMatch(table, /several faces/);
  });
}

test("a modality the extractor has no pipeline for stops the run with UNSUPPORTED_MODALITY", async () => {
  const folder = join(work, "tattoo-only");
  await writeMarkDataset(folder, { modality: "tattoo", identities: 2, perIdentity: 2, seed: 1, width: 96, height: 96 });
  await assert.rejects(
    runEval({ folder, outDir: join(work, "none"), modality: "tattoo", maxRank: 1, env: markOnly }),
    (err) => err instanceof AppError && err.code === ErrorCode.UNSUPPORTED_MODALITY,
  );
});

test("with the built-in trunk and --regions, each listed image is extracted from its labelled box", async () => {
  const folder = join(work, "tattoo-regions");
  const labels = await writeMarkDataset(folder, { modality: "tattoo", identities: 3, perIdentity: 2, seed: 9, width: 256, height: 256 });
  const { report } = await runEval({ folder, outDir: join(work, "regions-out"), modality: "tattoo", maxRank: 3, env: {}, regions: join(folder, "labels.json") });
  assert.equal(report.failureToEnrol.failed, 0);
  assert.equal(report.modelIds.length, 1);
  assert.match(report.modelIds[0]!, /inceptionv3-mixed4-gem3/);
  for (const label of labels) {
    const record = report.images.find((r) => r.identity === label.identity && r.file === label.file);
    assert.deepEqual(record?.chosenBox, label.box, `${label.identity}/${label.file}`);
  }
});

test("a regions file that is not one stops the run, naming the file", async () => {
  const folder = join(work, "tattoo-bad-regions");
  await writeMarkDataset(folder, { modality: "tattoo", identities: 2, perIdentity: 2, seed: 2, width: 96, height: 96 });
  const bad = join(work, "bad-regions.json");
  await writeFile(bad, JSON.stringify([{ identity: "tattoo-000", file: "00.jpg", box: { x: 0, y: 0, width: -1, height: 5 } }]));
  await assert.rejects(runEval({ folder, outDir: join(work, "bad-out"), modality: "tattoo", maxRank: 1, env, regions: bad }), new RegExp(`${bad} is not a regions file`));
});

test("a transform is applied to every template before scoring", async () => {
  const folder = join(work, "tattoo-transform");
  await writeMarkDataset(folder, { modality: "tattoo", identities: 3, perIdentity: 2, seed: 4, width: 128, height: 128 });
  let calls = 0;
  const constant = (t: Float32Array) => {
    calls++;
    const out = new Float32Array(t.length);
    out[0] = 1;
    return out;
  };
  const { report } = await runEval({ folder, outDir: join(work, "transform-out"), modality: "tattoo", maxRank: 1, env, transform: constant });
  assert.equal(calls, 6);
  // Every template mapped to one vector: every pair scores 1.
  assert.equal(report.verification.genuine.min, 1);
  assert.equal(report.verification.impostor.max, 1);
});
