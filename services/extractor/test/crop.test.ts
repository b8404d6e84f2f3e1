import { test } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { ErrorCode, Modality } from "@taj/proto";
import { markDesign, renderMark } from "@taj/samples";
import { lumaContrast } from "../src/contrast.ts";
import { gemPool } from "../src/pooling.ts";
import { faceExtractor, rejectsWith } from "./fixtures.ts";
import { cosine } from "./renderings.ts";

test("GeM pooling: p = 1 is the channel mean, large p approaches the channel max", () => {
  // Two channels of a 1x2x2 map.
  const map = Float32Array.from([1, 2, 3, 4, 0, 0, 0, 8]);
  const mean = gemPool(map, [1, 2, 2, 2], 1);
  assert.ok(Math.abs(mean[0]! - 2.5) < 1e-5 && Math.abs(mean[1]! - 2) < 1e-5);
  const cube = gemPool(map, [1, 2, 2, 2], 3);
  assert.ok(Math.abs(cube[0]! - Math.cbrt((1 + 8 + 27 + 64) / 4)) < 1e-4);
  assert.ok(gemPool(map, [1, 2, 2, 2], 16)[1]! > 0.9 * 8 * 0.25 ** (1 / 16));
  assert.throws(() => gemPool(map, [1, 4, 2, 2], 3), /\[1, C, H, W\]/);
});

test("luma contrast: 0 for one flat colour, 0.5 for black and white halves", () => {
  assert.ok(lumaContrast(Buffer.alloc(300, 128)) < 1e-6);
  const halves = Buffer.concat([Buffer.alloc(150, 0), Buffer.alloc(150, 255)]);
  assert.ok(Math.abs(lumaContrast(halves) - 0.5) < 1e-9);
});

async function rendering(modality: "tattoo" | "mark", design: number, shot: number) {
  return renderMark(markDesign(modality, design), 1000 * design + shot, { skinTone: (design % 5) / 5 });
}

for (const modality of ["tattoo", "mark"] as const) {
  const m = modality === "tattoo" ? Modality.TATTOO : Modality.MARK;
  test(`${modality}: the built-in trunk gives a 768-d unit template; two photos of one design agree more than photos of different ones`, async () => {
    const extractor = await faceExtractor();
    const designs = [1, 2, 3, 4, 5, 6];
    const templates: Float32Array[][] = [];
    for (const d of designs) {
      const shots: Float32Array[] = [];
      for (const shot of [0, 1]) {
        const r = await rendering(modality, d, shot);
        const out = await extractor.extract(m, r.bytes, { faceBox: r.box });
        assert.equal(out.template.length, 768);
        assert.ok(Math.abs(cosine(out.template, out.template) - 1) < 1e-5, "unit length");
        assert.match(out.modelId, /inceptionv3-mixed4-gem3/);
        assert.deepEqual(out.quality.box, r.box, "the caller's box (inside the image) is the region");
        assert.ok((out.quality.contrast ?? 0) > 0.006);
        assert.ok(out.timings.embedMs > 0 && out.timings.detectMs === 0);
        shots.push(out.template);
      }
      templates.push(shots);
    }
    let genuine = 0, impostor = 0, impostorPairs = 0;
    for (let i = 0; i < designs.length; i++) {
      genuine += cosine(templates[i]![0]!, templates[i]![1]!) / designs.length;
      for (let j = 0; j < designs.length; j++) {
        if (i === j) continue;
        impostor += cosine(templates[i]![0]!, templates[j]![1]!);
        impostorPairs++;
      }
    }
    impostor /= impostorPairs;
    assert.ok(genuine > impostor, `genuine mean ${genuine.toFixed(4)} must exceed impostor mean ${impostor.toFixed(4)}`);
  });
}

test("tattoo quality gate: a small region, a flat image and a box off the image are refused with their codes", async () => {
  const extractor = await faceExtractor();
  const r = await rendering("tattoo", 7, 0);
  const small = await rejectsWith(extractor.extract(Modality.TATTOO, r.bytes, { faceBox: { x: 10, y: 10, width: 40, height: 200 } }), ErrorCode.REGION_TOO_SMALL);
  assert.match(small.message, /40x200 pixels; at least 64/);
  const tiny = await sharp(r.bytes).resize(50, 50).jpeg().toBuffer();
  await rejectsWith(extractor.extract(Modality.MARK, tiny), ErrorCode.REGION_TOO_SMALL);
  // A box hanging over the edge is cut to the image, not refused.
  const edge = await extractor.extract(Modality.TATTOO, r.bytes, { faceBox: { x: 300, y: -20, width: 200, height: 150 } });
  assert.deepEqual(edge.quality.box, { x: 300, y: 0, width: r.width - 300, height: 130 });
  await rejectsWith(extractor.extract(Modality.TATTOO, r.bytes, { faceBox: { x: 500, y: 500, width: 100, height: 100 } }), ErrorCode.INVALID_ARGUMENT);
  for (const colour of [{ r: 190, g: 140, b: 110 }, { r: 255, g: 255, b: 255 }]) {
    const flat = await sharp({ create: { width: 400, height: 300, channels: 3, background: colour } }).jpeg({ quality: 70 }).toBuffer();
    const refused = await rejectsWith(extractor.extract(Modality.TATTOO, flat), ErrorCode.IMAGE_NEAR_UNIFORM);
    assert.match(refused.message, /almost no contrast/);
  }
});
