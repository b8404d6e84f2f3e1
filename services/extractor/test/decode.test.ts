import { test } from "node:test";
import assert from "node:assert/strict";
import sharp, { type Sharp } from "sharp";
import { ErrorCode } from "@taj/proto";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { decodeImage } from "../src/decode.ts";
import { sniffFormat } from "../src/sniff.ts";
import { bmp, noise, pngDeclaring } from "./crafted.ts";
import { LIMITS, rejectsWith, sample } from "./fixtures.ts";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const solid = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: "#336699" } });

test("empty input is IMAGE_EMPTY", async () => {
  await rejectsWith(decodeImage(new Uint8Array(0), LIMITS), ErrorCode.IMAGE_EMPTY);
});

test("more bytes than MAX_IMAGE_BYTES is IMAGE_TOO_LARGE before any decoding", async () => {
  const jpeg = sample("sample1.jpg");
  await rejectsWith(decodeImage(jpeg, { ...LIMITS, maxBytes: jpeg.length - 1 }), ErrorCode.IMAGE_TOO_LARGE);
  await rejectsWith(decodeImage(Buffer.alloc(LIMITS.maxBytes + 1), LIMITS), ErrorCode.IMAGE_TOO_LARGE);
});

test("a PNG header declaring 50000x50000 pixels is IMAGE_TOO_LARGE (decompression bomb)", async () => {
  const bomb = pngDeclaring(50_000, 50_000);
  assert.ok(bomb.length < 2_000, "the bomb itself is tiny");
  await rejectsWith(decodeImage(bomb, LIMITS), ErrorCode.IMAGE_TOO_LARGE);
});

test("a real image over MAX_IMAGE_PIXELS is IMAGE_TOO_LARGE", async () => {
  await rejectsWith(decodeImage(sample("sample1.jpg"), { ...LIMITS, maxPixels: 1920 * 1280 - 1 }), ErrorCode.IMAGE_TOO_LARGE);
  const ok = await decodeImage(sample("sample1.jpg"), { ...LIMITS, maxPixels: 1920 * 1280 });
  assert.equal(ok.width * ok.height, 1920 * 1280);
});

test("random bytes are IMAGE_UNSUPPORTED_FORMAT", async () => {
  await rejectsWith(decodeImage(noise(4096), LIMITS), ErrorCode.IMAGE_UNSUPPORTED_FORMAT);
});

test("GIF, BMP and AVIF are IMAGE_UNSUPPORTED_FORMAT", async () => {
  await rejectsWith(decodeImage(await solid(8, 8).gif().toBuffer(), LIMITS), ErrorCode.IMAGE_UNSUPPORTED_FORMAT);
  await rejectsWith(decodeImage(bmp(), LIMITS), ErrorCode.IMAGE_UNSUPPORTED_FORMAT);
  await rejectsWith(decodeImage(await solid(8, 8).avif().toBuffer(), LIMITS), ErrorCode.IMAGE_UNSUPPORTED_FORMAT);
});

test("a truncated JPEG is IMAGE_CORRUPT, not a half-grey image", async () => {
  const jpeg = sample("sample1.jpg");
  await rejectsWith(decodeImage(jpeg.subarray(0, Math.floor(jpeg.length / 2)), LIMITS), ErrorCode.IMAGE_CORRUPT);
  await rejectsWith(decodeImage(jpeg.subarray(0, 600), LIMITS), ErrorCode.IMAGE_CORRUPT);
});

test("a truncated PNG is IMAGE_CORRUPT", async () => {
  const png = await sharp(sample("sample1.jpg")).resize(400).png().toBuffer();
  await rejectsWith(decodeImage(png.subarray(0, Math.floor(png.length / 2)), LIMITS), ErrorCode.IMAGE_CORRUPT);
});

test("JPEG, PNG, WebP and TIFF decode to RGB; grey and RGBA become 3 channels", async () => {
  for (const encode of [(s: Sharp) => s.jpeg(), (s: Sharp) => s.png(), (s: Sharp) => s.webp(), (s: Sharp) => s.tiff()]) {
    const image = await decodeImage(await encode(solid(30, 20)).toBuffer(), LIMITS);
    assert.deepEqual([image.width, image.height, image.data.length], [30, 20, 30 * 20 * 3]);
  }
  const grey = await decodeImage(await solid(10, 10).greyscale().png().toBuffer(), LIMITS);
  assert.equal(grey.data.length, 10 * 10 * 3);
  const rgba = await sharp({ create: { width: 10, height: 10, channels: 4, background: { r: 1, g: 2, b: 3, alpha: 0.5 } } }).png().toBuffer();
  assert.equal((await decodeImage(rgba, LIMITS)).data.length, 10 * 10 * 3);
});

test("EXIF orientation is applied: an orientation-6 photo comes out upright", async () => {
  const sideways = await solid(40, 20).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const image = await decodeImage(sideways, LIMITS);
  assert.deepEqual([image.width, image.height], [20, 40]);
});

test("only JPEG, PNG, WebP and TIFF signatures are sniffed as accepted", async () => {
  assert.equal(sniffFormat(sample("sample1.jpg")), "jpeg");
  assert.equal(sniffFormat(await solid(8, 8).png().toBuffer()), "png");
  assert.equal(sniffFormat(await solid(8, 8).webp().toBuffer()), "webp");
  assert.equal(sniffFormat(await solid(8, 8).tiff().toBuffer()), "tiff");
  assert.equal(sniffFormat(Buffer.from("MM\0*")), "tiff");
  for (const other of [await solid(8, 8).gif().toBuffer(), await solid(8, 8).avif().toBuffer(), bmp(), Buffer.from("<svg/>"), Buffer.from([0xff, 0xd8]), Buffer.from("RIFF\0\0\0\0WAVE")]) {
    assert.equal(sniffFormat(other), undefined);
  }
});

test("an SVG or AVIF never reaches libvips: no GLib CRITICAL on stderr for absurd declared sizes", () => {
  // GLib writes to the process's fd 2 directly, so this runs in a child and reads its stderr.
  const script = `
    import sharp from "sharp";
    import { decodeImage } from "./services/extractor/src/decode.ts";
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="1000000000" height="1000000000"/>');
    const avif = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#369" } }).avif().toBuffer();
    const ispe = avif.indexOf("ispe");
    avif.writeUInt32BE(2147483647, ispe + 8); // image spatial extents: width
    const codes = [];
    for (const image of [svg, avif]) {
      try { await decodeImage(image, { maxBytes: 1e6, maxPixels: 4e7 }); codes.push("decoded"); } catch (e) { codes.push(e.code); }
    }
    console.log(JSON.stringify(codes));`;
  const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: repoRoot, encoding: "utf8" });
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual(JSON.parse(child.stdout), [ErrorCode.IMAGE_UNSUPPORTED_FORMAT, ErrorCode.IMAGE_UNSUPPORTED_FORMAT]);
  assert.doesNotMatch(child.stderr, /CRITICAL/);
});
