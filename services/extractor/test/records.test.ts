import { test } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { ErrorCode, Modality, RecordFormat } from "@taj/proto";
import { AppError, errorCodeName } from "@taj/common";
import { decodeJpeg2000 } from "../src/records/jpeg2000.ts";
import { openImage } from "../src/records/open-image.ts";
import type { RgbImage } from "../src/decode.ts";
import { faceExtractor, LIMITS, rejectsWith, sample } from "./fixtures.ts";
import { faceRecord, jp2, jpeg2000, transaction, type10, type2, type4 } from "./records-builders.ts";

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);

async function rgbOf(jpeg: Uint8Array): Promise<RgbImage> {
  const { data, info } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

/** A portrait cut from a sample photo (one face), as JPEG. */
async function portrait(): Promise<Buffer> {
  return sharp(sample("sample6.jpg")).extract({ left: 560, top: 120, width: 360, height: 420 }).jpeg({ quality: 92 }).toBuffer();
}

const tattooJpeg = () => sharp({ create: { width: 200, height: 160, channels: 3, background: "#c8a080" } })
  .composite([{ input: Buffer.from('<svg width="200" height="160"><path d="M30 80 Q100 10 170 80 T30 80" stroke="#203050" stroke-width="9" fill="none"/></svg>') }])
  .jpeg({ quality: 90 }).toBuffer();

test("JPEG 2000: a lossless codestream and the same inside a JP2 file decode to the original pixels", async () => {
  const original = await rgbOf(await portrait());
  const codestream = await jpeg2000(original.data, original.width, original.height, 3);
  for (const bytes of [codestream, jp2(codestream, original.width, original.height, 3)]) {
    const decoded = await decodeJpeg2000(bytes, LIMITS);
    assert.deepEqual([decoded.width, decoded.height], [original.width, original.height]);
    assert.ok(decoded.data.equals(original.data), "lossless: every sample equal, interleaved RGB");
  }
});

test("JPEG 2000: 12-bit grey is scaled to 8 bits and replicated to RGB", async () => {
  const width = 64, height = 48;
  const samples = Buffer.alloc(width * height * 2);
  for (let i = 0; i < width * height; i++) samples.writeUInt16LE((i * 37) % 4096, 2 * i);
  const decoded = await decodeJpeg2000(await jpeg2000(samples, width, height, 1, 12), LIMITS);
  for (const i of [0, 1, 100, width * height - 1]) {
    const expected = Math.round(((i * 37) % 4096) * (255 / 4095));
    assert.deepEqual([...decoded.data.subarray(3 * i, 3 * i + 3)], [expected, expected, expected], `pixel ${i}`);
  }
});

test("JPEG 2000: truncated data is IMAGE_CORRUPT, a huge declared size IMAGE_TOO_LARGE before decoding, signed samples unsupported", async () => {
  const original = await rgbOf(await portrait());
  const codestream = await jpeg2000(original.data, original.width, original.height, 3);
  await rejectsWith(decodeJpeg2000(codestream.subarray(0, codestream.length >> 1), LIMITS), ErrorCode.IMAGE_CORRUPT);
  await rejectsWith(decodeJpeg2000(codestream.subarray(0, 30), LIMITS), ErrorCode.IMAGE_CORRUPT);
  const bomb = Buffer.from(codestream);
  bomb.writeUInt32BE(60_000, 8); // Xsiz
  bomb.writeUInt32BE(60_000, 12); // Ysiz
  await rejectsWith(decodeJpeg2000(bomb, LIMITS), ErrorCode.IMAGE_TOO_LARGE);
  const signed = Buffer.from(codestream);
  signed[4 + 38] = signed[4 + 38]! | 0x80;
  await rejectsWith(decodeJpeg2000(signed, LIMITS), ErrorCode.IMAGE_UNSUPPORTED_FORMAT);
  await rejectsWith(decodeJpeg2000(jp2(Buffer.alloc(0), 1, 1, 3).subarray(0, 40), LIMITS), ErrorCode.IMAGE_CORRUPT);
});

test("a plain JPEG 2000 file is accepted by the extractor like JPEG, and gives the same face", async () => {
  const extractor = await faceExtractor();
  const jpeg = await portrait();
  const original = await rgbOf(jpeg);
  const plain = await extractor.extract(Modality.FACE, jpeg);
  const j2k = await extractor.extract(Modality.FACE, await jpeg2000(original.data, original.width, original.height, 3));
  assert.equal(j2k.record.format, RecordFormat.NONE);
  assert.ok(cosine(plain.template, j2k.template) > 0.999, "the same pixels give the same template");
});

test("ISO/IEC 19794-5 record: the JPEG or JPEG 2000 inside is extracted as the plain image is", async () => {
  const extractor = await faceExtractor();
  const jpeg = await portrait();
  const original = await rgbOf(jpeg);
  const plain = await extractor.extract(Modality.FACE, jpeg);
  const withJpeg = await extractor.extract(Modality.FACE, faceRecord([{ data: jpeg, dataType: 0, width: original.width, height: original.height }]));
  assert.equal(withJpeg.record.format, RecordFormat.ISO_19794_5);
  assert.equal(withJpeg.record.imageEncoding, "jpeg");
  assert.ok(cosine(plain.template, withJpeg.template) > 0.9999);
  const j2k = await jpeg2000(original.data, original.width, original.height, 3);
  const withJ2k = await extractor.extract(Modality.FACE, faceRecord([{ data: j2k, dataType: 1, width: original.width, height: original.height }]));
  assert.equal(withJ2k.record.imageEncoding, "jpeg2000");
  assert.ok(cosine(plain.template, withJ2k.template) > 0.999);
});

test("a record's eye centres choose among several faces; without them the photo is MULTIPLE_FACES", async () => {
  const extractor = await faceExtractor();
  const photo = sample("sample1.jpg");
  const { width = 0, height = 0 } = await sharp(photo).metadata();
  const several = await rejectsWith(extractor.extract(Modality.FACE, faceRecord([{ data: photo, dataType: 0, width, height }])), ErrorCode.MULTIPLE_FACES);
  assert.ok(several.faces.length >= 2);
  for (const face of several.faces) {
    // Eye centres where a face's eyes are: 40 % down its box, a third in from each side.
    const y = Math.round(face.yPx + face.heightPx * 0.4);
    const eyes: [number, number, number, number][] = [
      [12, 1, Math.round(face.xPx + face.widthPx / 3), y],
      [12, 2, Math.round(face.xPx + (2 * face.widthPx) / 3), y],
    ];
    const r = await extractor.extract(Modality.FACE, faceRecord([{ data: photo, dataType: 0, width, height, points: eyes }]));
    assert.equal(r.record.eyePositionsUsed, true);
    assert.ok(Math.abs(r.quality.box.x - face.xPx) < 1 && Math.abs(r.quality.box.y - face.yPx) < 1, "the face the eyes are in");
  }
  // Eyes that fall in no face change nothing; the caller's face_box still wins over them.
  const nowhere: [number, number, number, number][] = [[12, 1, 1, 1], [12, 2, 3, 1]];
  await rejectsWith(extractor.extract(Modality.FACE, faceRecord([{ data: photo, dataType: 0, width, height, points: nowhere }])), ErrorCode.MULTIPLE_FACES);
  const second = several.faces[1]!;
  const boxed = await extractor.extract(Modality.FACE, faceRecord([{ data: photo, dataType: 0, width, height, points: nowhere }]), {
    faceBox: { x: second.xPx, y: second.yPx, width: second.widthPx, height: second.heightPx },
  });
  assert.equal(boxed.record.eyePositionsUsed, false);
});

test("ISO/IEC 19794-5 record: broken, other versions and other modalities get their own codes", async () => {
  const jpeg = await portrait();
  const good = faceRecord([{ data: jpeg, dataType: 0, width: 360, height: 420 }]);
  await rejectsWith(openImage(good.subarray(0, good.length - 100), Modality.FACE, undefined, LIMITS), ErrorCode.RECORD_MALFORMED);
  await rejectsWith(openImage(good.subarray(0, 10), Modality.FACE, undefined, LIMITS), ErrorCode.RECORD_MALFORMED);
  const zero = Buffer.from(good);
  zero.writeUInt16BE(0, 12);
  await rejectsWith(openImage(zero, Modality.FACE, undefined, LIMITS), ErrorCode.RECORD_MALFORMED);
  const longBlock = Buffer.from(good);
  longBlock.writeUInt32BE(good.length, 14);
  await rejectsWith(openImage(longBlock, Modality.FACE, undefined, LIMITS), ErrorCode.RECORD_MALFORMED);
  const v2011 = await rejectsWith(openImage(faceRecord([{ data: jpeg, dataType: 0, width: 1, height: 1 }], "030"), Modality.FACE, undefined, LIMITS), ErrorCode.RECORD_UNSUPPORTED);
  assert.match(v2011.message, /030/);
  const png = await sharp(jpeg).png().toBuffer();
  await rejectsWith(openImage(faceRecord([{ data: png, dataType: 0, width: 1, height: 1 }]), Modality.FACE, undefined, LIMITS), ErrorCode.RECORD_MALFORMED);
  await rejectsWith(openImage(good, Modality.TATTOO, undefined, LIMITS), ErrorCode.RECORD_NO_MATCHING_IMAGE);
  await rejectsWith(openImage(good, Modality.FACE, 1, LIMITS), ErrorCode.RECORD_NO_MATCHING_IMAGE);
  const two = faceRecord([{ data: jpeg, dataType: 0, width: 1, height: 1 }, { data: png.subarray(0, 0), dataType: 0, width: 1, height: 1 }]);
  await rejectsWith(openImage(two, Modality.FACE, undefined, LIMITS), ErrorCode.RECORD_MALFORMED);
});

test("ANSI/NIST-ITL transaction: the face, tattoo and mark images of Type-10 records, chosen by modality", async () => {
  const extractor = await faceExtractor();
  const face = await portrait();
  const tattoo = await tattooJpeg();
  const tattooRgb = await rgbOf(tattoo);
  const tattooJ2k = await jpeg2000(tattooRgb.data, tattooRgb.width, tattooRgb.height, 3);
  const name = "JANE QX DOE-EXAMPLE";
  const bytes = transaction([
    { type: 2, bytes: type2(name) },
    { type: 4, bytes: type4(Buffer.from([0x1c, 0x1d, 0x1e, 0x10, 0x20, 0x30])) },
    { type: 10, bytes: type10({ imageType: "FACE", compression: "JPEGB", data: face, comment: name }, 3) },
    { type: 10, bytes: type10({ imageType: "TATTOO", compression: "JP2", data: tattooJ2k, width: tattooRgb.width, height: tattooRgb.height, smt: ["TAT L ARM", "TAT CHEST"] }, 4) },
    { type: 10, bytes: type10({ imageType: "SCAR", compression: "JPEGB", data: tattoo, smt: ["SC R HND"] }, 5) },
  ]);
  const r = await extractor.extract(Modality.FACE, bytes);
  assert.equal(r.record.format, RecordFormat.ANSI_NIST_TYPE_10);
  assert.ok(cosine(r.template, (await extractor.extract(Modality.FACE, face)).template) > 0.9999);
  const t = await openImage(bytes, Modality.TATTOO, undefined, LIMITS);
  assert.deepEqual(t.record, { format: RecordFormat.ANSI_NIST_TYPE_10, imageEncoding: "jpeg2000", bodyLocation: "L ARM", imageIndex: 0 });
  assert.ok(t.image.data.equals(tattooRgb.data));
  const m = await openImage(bytes, Modality.MARK, undefined, LIMITS);
  assert.equal(m.record.bodyLocation, "R HND", "a scar is a mark");
  // Nothing of the record's text (the Type-2 name, the Type-10 comment) comes out of it.
  assert.ok(!JSON.stringify({ ...r, template: [] }).includes("JANE") && !JSON.stringify(t.record).includes("JANE"));
});

test("ANSI/NIST-ITL: several images of the modality need record_image_index; lone Type-10 and uncompressed images", async () => {
  const tattoo = await tattooJpeg();
  const bytes = transaction([
    { type: 10, bytes: type10({ imageType: "TATTOO", compression: "JPEGB", data: tattoo, smt: ["TAT R ARM"] }, 1) },
    { type: 10, bytes: type10({ imageType: "TATTOO", compression: "JPEGB", data: tattoo, smt: ["TAT BACK"] }, 2) },
  ]);
  const several = await rejectsWith(openImage(bytes, Modality.TATTOO, undefined, LIMITS), ErrorCode.RECORD_SEVERAL_IMAGES);
  assert.equal(several.recordImages, 2);
  assert.equal((await openImage(bytes, Modality.TATTOO, 1, LIMITS)).record.bodyLocation, "BACK");
  await rejectsWith(openImage(bytes, Modality.TATTOO, 2, LIMITS), ErrorCode.RECORD_NO_MATCHING_IMAGE);
  await rejectsWith(openImage(bytes, Modality.FACE, undefined, LIMITS), ErrorCode.RECORD_NO_MATCHING_IMAGE);
  const lone = await openImage(type10({ imageType: "MARK", compression: "JPEGB", data: tattoo, smt: ["XYZ NOWHERE"] }, 1), Modality.MARK, undefined, LIMITS);
  assert.equal(lone.record.bodyLocation, "", "an SMT code whose body part is not a known location gives none");
  const grey = Buffer.alloc(80 * 60, 0);
  for (let i = 0; i < grey.length; i++) grey[i] = i % 251;
  const raw = await openImage(type10({ imageType: "MARK", compression: "NONE", data: grey, width: 80, height: 60 }, 1), Modality.MARK, undefined, LIMITS);
  assert.deepEqual([raw.image.width, raw.image.height, raw.image.data[3 * 300], raw.image.data[3 * 300 + 2]], [80, 60, 300 % 251, 300 % 251]);
  await rejectsWith(openImage(type10({ imageType: "MARK", compression: "NONE", data: grey, width: 81, height: 60 }, 1), Modality.MARK, undefined, LIMITS), ErrorCode.RECORD_MALFORMED);
  await rejectsWith(openImage(type10({ imageType: "MARK", compression: "JPEGL", data: grey }, 1), Modality.MARK, undefined, LIMITS), ErrorCode.RECORD_UNSUPPORTED);
  await rejectsWith(openImage(type10({ imageType: "MARK", compression: "WSQ20", data: grey }, 1), Modality.MARK, undefined, LIMITS), ErrorCode.RECORD_UNSUPPORTED);
});

test("ANSI/NIST-ITL: broken transactions are RECORD_MALFORMED, and no truncation crashes or passes as something else", async () => {
  const tattoo = await tattooJpeg();
  const good = transaction([
    { type: 2, bytes: type2("A B") },
    { type: 10, bytes: type10({ imageType: "TATTOO", compression: "JPEGB", data: tattoo, smt: ["TAT R ARM"] }, 1) },
  ]);
  await rejectsWith(openImage(transaction([{ type: 10, bytes: type10({ imageType: "TATTOO", compression: "JPEGB", data: tattoo }, 1) }], `1\x1f2\x1e10\x1f1`), Modality.TATTOO, undefined, LIMITS), ErrorCode.RECORD_MALFORMED);
  await rejectsWith(openImage(transaction([{ type: 10, bytes: type2("A") }]), Modality.TATTOO, undefined, LIMITS), ErrorCode.RECORD_MALFORMED);
  const wrongLength = Buffer.from(good);
  wrongLength.write("9", wrongLength.indexOf("1.001:") + 6, "latin1");
  await rejectsWith(openImage(wrongLength, Modality.TATTOO, undefined, LIMITS), ErrorCode.RECORD_MALFORMED);
  const allowed = new Set(["RECORD_MALFORMED", "IMAGE_CORRUPT", "RECORD_NO_MATCHING_IMAGE", "IMAGE_UNSUPPORTED_FORMAT", "IMAGE_EMPTY"]);
  for (let cut = 1; cut < good.length; cut += 53) {
    try {
      await openImage(good.subarray(0, cut), Modality.TATTOO, undefined, LIMITS);
      assert.fail(`a transaction cut at ${cut} of ${good.length} bytes was accepted`);
    } catch (err) {
      const code = errorCodeName(AppError.from(err).code);
      assert.ok(allowed.has(code), `cut at ${cut}: ${code} (${(err as Error).message})`);
    }
  }
});

test("JPEG 2000 decodes in its own thread: the event loop keeps turning meanwhile", async () => {
  const width = 1600;
  const height = 1200;
  const pixels = new Uint8Array(width * height * 3);
  let x = 7;
  for (let i = 0; i < pixels.length; i++) pixels[i] = x = (x * 1103515245 + 12345) & 0xff; // noise: the slowest to decode
  const bytes = await jpeg2000(pixels, width, height, 3);
  let last = performance.now();
  let longestGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
  }, 5);
  const started = performance.now();
  try {
    const image = await decodeJpeg2000(bytes, LIMITS);
    assert.equal(image.width, width);
  } finally {
    clearInterval(ticker);
  }
  const took = performance.now() - started;
  console.log(`decode ${took.toFixed(0)} ms, longest event-loop gap ${longestGap.toFixed(0)} ms`);
  assert.ok(took > 100, "a decode long enough to tell");
  assert.ok(longestGap < took / 3, `the loop waited ${longestGap.toFixed(0)} ms of a ${took.toFixed(0)} ms decode`);
});
