// The MobileNetV2 trunk built from nsfwjs: the build is byte-for-byte reproducible, and
// onnxruntime's feature maps on real photos match TF.js running the original Keras model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as ort from "onnxruntime-node";
import sharp from "sharp";
import { samplePhotoPaths } from "@taj/samples";
import { buildTrunk, loadArtifacts, MOBILENET_V2_BLOCK10 } from "../src/index.ts";
import { compare, tfjsTrunk } from "./reference.ts";

const repoRoot = resolve(import.meta.dirname, "..", "..", "..");

test("npm run build:tattoo-model writes the same bytes every run and prints their sha256, the recorded one", () => {
  const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), "tattoo-model-")));
  try {
    const printed = dirs.map((d) =>
      execFileSync(process.execPath, ["--import", "tsx", "packages/tattoo-model/src/main.ts", d], { cwd: repoRoot, encoding: "utf8" }),
    );
    const files = dirs.map((d) => readFileSync(join(d, MOBILENET_V2_BLOCK10.file)));
    assert.ok(files[0]!.byteLength > 1_000_000, `model is ${files[0]!.byteLength} bytes`);
    assert.ok(files[0]!.equals(files[1]!), "two builds differ");
    const sha = createHash("sha256").update(files[0]!).digest("hex");
    assert.equal(sha, MOBILENET_V2_BLOCK10.sha256);
    for (const p of printed) assert.match(p, new RegExp(`^${sha}  `));
    // In-process build: the same bytes as the command's.
    assert.ok(Buffer.from(buildTrunk(MOBILENET_V2_BLOCK10).bytes).equals(files[0]!));
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test("onnxruntime runs the trunk on real photos and matches TF.js's Keras model", async () => {
  const built = buildTrunk(MOBILENET_V2_BLOCK10);
  assert.deepEqual(built.inputShape, [1, 3, 224, 224]);
  assert.deepEqual(built.outputShape, [1, 384, 14, 14]);
  const ops = new Set(built.graph.nodes.map((n) => n.opType));
  assert.deepEqual([...ops].sort(), ["Add", "Clip", "Conv", "Pad"]);
  const session = await ort.InferenceSession.create(built.bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const artifacts = loadArtifacts(MOBILENET_V2_BLOCK10.model);
  const [h, w] = MOBILENET_V2_BLOCK10.inputSize;
  for (const path of samplePhotoPaths().slice(0, 3)) {
    // Squashed to 224x224 (not aspect-preserving), RGB scaled x/255, as nsfwjs feeds its model.
    const rgb = await sharp(path).resize(w, h, { fit: "fill" }).removeAlpha().raw().toBuffer();
    const nhwc = Float32Array.from(rgb, (v) => v / 255);
    const nchw = new Float32Array(nhwc.length);
    for (let i = 0; i < h * w; i++) for (let c = 0; c < 3; c++) nchw[c * h * w + i] = nhwc[i * 3 + c]!;
    const result = await session.run({ [built.inputName]: new ort.Tensor("float32", nchw, built.inputShape) });
    const onnx = result[built.outputName]!.data as Float32Array;
    const reference = await tfjsTrunk(artifacts, MOBILENET_V2_BLOCK10.cut, nhwc, [1, h, w, 3]);
    assert.equal(onnx.length, reference.length);
    const { maxAbs, cosine, maxRef } = compare(onnx, reference);
    console.log(`${path.split("/").pop()}: max abs diff ${maxAbs.toExponential(2)} (largest activation ${maxRef.toFixed(2)}), 1 - cosine ${(1 - cosine).toExponential(2)}`);
    assert.ok(maxRef > 1, "the feature map is not all near zero");
    assert.ok(maxAbs < 1e-4, `max abs diff ${maxAbs}`);
    assert.ok(cosine > 0.99999, `cosine ${cosine}`);
  }
  await session.release();
});
