// Images for the hostile-input cases: small faceless pictures of every format sharp reads, their
// mutations (truncated, bit-flipped, spliced) and headers that declare huge dimensions. Faceless,
// so that an Enroll whose mutated image still decodes answers NO_FACE and can never store anything.
import { deflateSync } from "node:zlib";
import sharp, { type Sharp } from "sharp";
import type { Random } from "./random.ts";

export type Format = "jpeg" | "png" | "webp" | "tiff" | "gif" | "avif" | "svg";
/** The formats the extractor accepts (services/extractor/src/decode.ts); the others it must refuse. */
export const ACCEPTED: readonly Format[] = ["jpeg", "png", "webp", "tiff"];
export const REFUSED: readonly Format[] = ["gif", "avif", "svg"];

/** Noise over a gradient, from the seeded generator: looks like nothing, compresses like a photo. */
async function pixels(rng: Random, width: number, height: number): Promise<Sharp> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 2 + rng.int(0, 40)) & 0xff;
      raw[i + 1] = (y * 2 + rng.int(0, 40)) & 0xff;
      raw[i + 2] = ((x + y) + rng.int(0, 40)) & 0xff;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } });
}

export async function baseImages(rng: Random): Promise<Map<Format, Buffer>> {
  const w = 96;
  const h = 72;
  const images = new Map<Format, Buffer>();
  images.set("jpeg", await (await pixels(rng, w, h)).jpeg({ quality: 80 }).toBuffer());
  images.set("png", await (await pixels(rng, w, h)).png().toBuffer());
  images.set("webp", await (await pixels(rng, w, h)).webp({ quality: 80 }).toBuffer());
  images.set("tiff", await (await pixels(rng, w, h)).tiff().toBuffer());
  images.set("gif", await (await pixels(rng, w, h)).gif().toBuffer());
  images.set("avif", await (await pixels(rng, w, h)).avif({ quality: 50 }).toBuffer());
  images.set("svg", Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="${w}" height="${h}" fill="#6a8"/></svg>`));
  return images;
}

export function truncate(image: Buffer, rng: Random): Buffer {
  const cut = rng.chance(0.3) ? rng.int(1, Math.min(32, image.length - 1)) : rng.int(1, image.length - 1);
  return Buffer.from(image.subarray(0, cut));
}

/** Flips 1 to 24 bits, often in the first 64 bytes where headers and their lengths live. */
export function bitFlip(image: Buffer, rng: Random): Buffer {
  const out = Buffer.from(image);
  const flips = rng.int(1, 24);
  const span = rng.chance(0.5) ? Math.min(64, out.length) : out.length;
  for (let i = 0; i < flips; i++) {
    const at = rng.int(0, span - 1);
    out[at] = out[at]! ^ (1 << rng.int(0, 7));
  }
  return out;
}

/** Overwrites a random run with random bytes, or repeats / drops a run. */
export function splice(image: Buffer, rng: Random): Buffer {
  const at = rng.int(0, image.length - 1);
  const len = rng.int(1, Math.min(256, image.length - at));
  switch (rng.int(0, 2)) {
    case 0: {
      const out = Buffer.from(image);
      rng.bytes(len).copy(out, at);
      return out;
    }
    case 1:
      return Buffer.concat([image.subarray(0, at + len), image.subarray(at)]);
    default:
      return Buffer.concat([image.subarray(0, at), image.subarray(at + len)]);
  }
}

export function mutate(image: Buffer, rng: Random): { kind: string; bytes: Buffer } {
  switch (rng.int(0, 2)) {
    case 0:
      return { kind: "truncated", bytes: truncate(image, rng) };
    case 1:
      return { kind: "bit-flipped", bytes: bitFlip(image, rng) };
    default:
      return { kind: "spliced", bytes: splice(image, rng) };
  }
}

// ---- headers that declare huge dimensions ----

export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngWithSize(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  out.writeUInt32BE(width >>> 0, 16);
  out.writeUInt32BE(height >>> 0, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29); // IHDR's CRC, so only the size is unusual
  return out;
}

function jpegWithSize(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i + 9 < out.length; ) {
    if (out[i] !== 0xff) break;
    const marker = out[i + 1]!;
    const length = out.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xc2) {
      out.writeUInt16BE(height & 0xffff, i + 5);
      out.writeUInt16BE(width & 0xffff, i + 7);
      return out;
    }
    i += 2 + length;
  }
  throw new Error("no SOF marker in the base JPEG");
}

/** Lossy WebP (VP8): 14-bit width and height in the key frame header, at offsets 26 and 28. */
function webpWithSize(webp: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(webp);
  if (out.toString("latin1", 12, 16) !== "VP8 ") throw new Error("base WebP is not simple lossy");
  out.writeUInt16LE(width & 0x3fff, 26);
  out.writeUInt16LE(height & 0x3fff, 28);
  return out;
}

/** Little-endian TIFF: rewrites tags 256/257 (ImageWidth, ImageLength) of the first IFD as LONGs. */
function tiffWithSize(tiff: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(tiff);
  if (out.toString("latin1", 0, 2) !== "II") throw new Error("base TIFF is not little-endian");
  const ifd = out.readUInt32LE(4);
  const entries = out.readUInt16LE(ifd);
  for (let e = 0; e < entries; e++) {
    const at = ifd + 2 + e * 12;
    const t = out.readUInt16LE(at);
    if (t === 256 || t === 257) {
      out.writeUInt16LE(4, at + 2); // LONG
      out.writeUInt32LE(1, at + 4);
      out.writeUInt32LE((t === 256 ? width : height) >>> 0, at + 8);
    }
  }
  return out;
}

function gifWithSize(gif: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(gif);
  out.writeUInt16LE(width & 0xffff, 6);
  out.writeUInt16LE(height & 0xffff, 8);
  return out;
}

function svgWithSize(width: number, height: number): Buffer {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%"/></svg>`);
}

/** AVIF: the 'ispe' property (image spatial extents) holds width and height as 32-bit values. */
function avifWithSize(avif: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(avif);
  const at = out.indexOf("ispe", 0, "latin1");
  if (at < 0) throw new Error("no ispe box in the base AVIF");
  out.writeUInt32BE(width >>> 0, at + 8); // after 'ispe' + version/flags
  out.writeUInt32BE(height >>> 0, at + 12);
  return out;
}

export function withDeclaredSize(format: Format, base: Buffer, width: number, height: number): Buffer {
  switch (format) {
    case "png": return pngWithSize(base, width, height);
    case "jpeg": return jpegWithSize(base, width, height);
    case "webp": return webpWithSize(base, width, height);
    case "tiff": return tiffWithSize(base, width, height);
    case "gif": return gifWithSize(base, width, height);
    case "avif": return avifWithSize(base, width, height);
    case "svg": return svgWithSize(width, height);
  }
}

/** The largest size each format's header can declare, and a few that only look plausible. */
export function hugeSizes(format: Format): Array<[number, number]> {
  const common: Array<[number, number]> = [[60000, 60000], [40000, 1001], [1001, 40000], [7000, 7000]];
  switch (format) {
    case "png": case "tiff": case "avif": return [...common, [0x7fffffff, 0x7fffffff], [0x7fffffff, 1], [0xffffffff, 0xffffffff]];
    case "jpeg": case "gif": return [...common, [65535, 65535], [65535, 1]];
    case "webp": return [[16383, 16383], [16383, 3000], [3000, 16383], [7000, 7000]];
    case "svg": return [...common, [1e9, 1e9]];
  }
}

/**
 * A real decompression bomb: a well-formed grey PNG of side x side zero pixels. Its deflated
 * rows are tiny; decoded it would take side^2 bytes (x3 as RGB).
 */
export function pngBomb(side: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const rows = Buffer.alloc(side * (side + 1)); // filter byte 0 + zero pixels, every row
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(rows, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
