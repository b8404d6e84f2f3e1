// The trunks built from nsfwjs: the build is byte-for-byte reproducible, and onnxruntime's
// feature maps on real photos match TF.js running the original Keras model.
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
import { buildTrunk, INCEPTION_V3_MIXED4, loadArtifacts, MOBILENET_V2_BLOCK10, TRUNKS, type TrunkSpec } from "../src/index.ts";
import { compare, tfjsTrunk } from "./reference.ts";

const repoRoot = resolve(import.meta.dirname, "..", "..", "..");

test("npm run build:tattoo-model writes the same bytes every run and prints their sha256, the recorded ones", () => {
  const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), "tattoo-model-")));
  try {
    const printed = dirs.map((d) =>
      execFileSync(process.execPath, ["--import", "tsx", "packages/tattoo-model/src/main.ts", d], { cwd: repoRoot, encoding: "utf8" }).split("\n"),
    );
    TRUNKS.forEach((spec, i) => {
      const files = dirs.map((d) => readFileSync(join(d, spec.file)));
      assert.ok(files[0]!.byteLength > 1_000_000, `${spec.file} is ${files[0]!.byteLength} bytes`);
      assert.ok(files[0]!.equals(files[1]!), `two builds of ${spec.file} differ`);
      const sha = createHash("sha256").update(files[0]!).digest("hex");
      assert.equal(sha, spec.sha256);
      for (const p of printed) assert.match(p[i]!, new RegExp(`^${sha}  .*${spec.file}`));
    });
    // In-process build: the same bytes as the command's.
    assert.ok(Buffer.from(buildTrunk(MOBILENET_V2_BLOCK10).bytes).equals(readFileSync(join(dirs[0]!, MOBILENET_V2_BLOCK10.file))));
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

/** A photo squashed to the trunk's input size (not aspect-preserving), RGB scaled x/255, as nsfwjs feeds its model: NHWC and NCHW. */
async function photo(path: string, h: number, w: number): Promise<{ nhwc: Float32Array; nchw: Float32Array }> {
  const rgb = await sharp(path).resize(w, h, { fit: "fill" }).removeAlpha().raw().toBuffer();
  const nhwc = Float32Array.from(rgb, (v) => v / 255);
  const nchw = new Float32Array(nhwc.length);
  for (let i = 0; i < h * w; i++) for (let c = 0; c < 3; c++) nchw[c * h * w + i] = nhwc[i * 3 + c]!;
  return { nhwc, nchw };
}

async function matchesTfjs(spec: TrunkSpec, photos: string[], expectedOps: string[], outputShape: number[]): Promise<void> {
  const built = buildTrunk(spec);
  assert.deepEqual(built.inputShape, [1, 3, ...spec.inputSize]);
  assert.deepEqual(built.outputShape, outputShape);
  assert.deepEqual([...new Set(built.graph.nodes.map((n) => n.opType))].sort(), expectedOps);
  const session = await ort.InferenceSession.create(built.bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const artifacts = loadArtifacts(spec.model);
  const [h, w] = spec.inputSize;
  for (const path of photos) {
    const { nhwc, nchw } = await photo(path, h, w);
    const result = await session.run({ [built.inputName]: new ort.Tensor("float32", nchw, built.inputShape) });
    const onnx = result[built.outputName]!.data as Float32Array;
    const reference = await tfjsTrunk(artifacts, spec.cut, nhwc, [1, h, w, 3]);
    assert.equal(onnx.length, reference.length);
    const { maxAbs, cosine, maxRef } = compare(onnx, reference);
    console.log(`${spec.file}, ${path.split("/").pop()}: max abs diff ${maxAbs.toExponential(2)} (largest activation ${maxRef.toFixed(2)}), 1 - cosine ${(1 - cosine).toExponential(2)}`);
    assert.ok(maxRef > 1, "the feature map is not all near zero");
    assert.ok(maxAbs < 1e-4, `max abs diff ${maxAbs}`);
    assert.ok(cosine > 0.99999, `cosine ${cosine}`);
  }
  await session.release();
}

test("onnxruntime runs the MobileNetV2 trunk on real photos and matches TF.js's Keras model", async () => {
  await matchesTfjs(MOBILENET_V2_BLOCK10, samplePhotoPaths().slice(0, 3), ["Add", "Clip", "Conv", "Pad"], [1, 384, 14, 14]);
});

// One photo: TF.js's pure-JS backend takes ~10 s for InceptionV3 to mixed4 at 299x299.
test("onnxruntime runs the InceptionV3 trunk on a real photo and matches TF.js's Keras model", async () => {
  await matchesTfjs(INCEPTION_V3_MIXED4, samplePhotoPaths().slice(3, 4), ["AveragePool", "Concat", "Conv", "MaxPool", "Relu"], [1, 768, 17, 17]);
});
