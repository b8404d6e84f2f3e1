import { createRequire } from "node:module";
import { ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";
import type { DecodeLimits, RgbImage } from "../decode.ts";

// libvips (sharp) has no JPEG 2000 loader; OpenJPEG, compiled to WebAssembly and published on npm
// by the Cornerstone project, decodes it. Only its decoder is loaded here.
interface J2kDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean };
  delete(): void;
}
interface OpenJpegModule {
  J2KDecoder: new () => J2kDecoder;
}
type OpenJpegFactory = (options: { print: (s: string) => void; printErr: (s: string) => void }) => Promise<OpenJpegModule>;

const require = createRequire(import.meta.url);
let openjpeg: Promise<OpenJpegModule> | undefined;

/** The decoder module, instantiated once per process; OpenJPEG's own chatter is not printed. */
function module(): Promise<OpenJpegModule> {
  const quiet = () => {};
  openjpeg ??= (require("@cornerstonejs/codec-openjpeg/decodewasmjs") as OpenJpegFactory)({ print: quiet, printErr: quiet });
  return openjpeg;
}

const JP2_SIGNATURE = [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a];

/** A raw codestream (SOC then SIZ) or a JP2 file (its signature box). */
export function isJpeg2000(bytes: Uint8Array): boolean {
  return isCodestream(bytes) || JP2_SIGNATURE.every((b, i) => bytes[i] === b);
}

const isCodestream = (bytes: Uint8Array) => bytes[0] === 0xff && bytes[1] === 0x4f && bytes[2] === 0xff && bytes[3] === 0x51;

const corrupt = (why: string) => new AppError(ErrorCode.IMAGE_CORRUPT, `the JPEG 2000 image is corrupt or truncated (${why})`);

/** The codestream of a JP2 file: the contents of its first `jp2c` box (ISO/IEC 15444-1 Annex I). */
function codestreamOf(bytes: Uint8Array): Uint8Array {
  if (isCodestream(bytes)) return bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + 8 <= bytes.length) {
    let length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    let header = 8;
    if (length === 1) {
      if (at + 16 > bytes.length) break;
      const big = view.getBigUint64(at + 8);
      if (big > BigInt(bytes.length)) throw corrupt("a box runs past the end");
      length = Number(big);
      header = 16;
    } else if (length === 0) {
      length = bytes.length - at;
    }
    if (length < header || at + length > bytes.length) throw corrupt("a box runs past the end");
    if (type === "jp2c") return bytes.subarray(at + header, at + length);
    at += length;
  }
  throw corrupt("no codestream box");
}

interface Size {
  width: number;
  height: number;
  components: number;
  bitDepth: number;
}

/** Image size and components from the SIZ marker, read before any decoding (the pixel bound). */
function sizeOf(codestream: Uint8Array): Size {
  if (!isCodestream(codestream) || codestream.length < 4 + 40) throw corrupt("no SIZ marker");
  const view = new DataView(codestream.buffer, codestream.byteOffset, codestream.byteLength);
  const lsiz = view.getUint16(4);
  const components = view.getUint16(4 + 36);
  if (components < 1 || lsiz !== 38 + 3 * components || 4 + 2 + lsiz > codestream.length) throw corrupt("a bad SIZ marker");
  const width = view.getUint32(8) - view.getUint32(16);
  const height = view.getUint32(12) - view.getUint32(20);
  if (width <= 0 || height <= 0) throw corrupt("an empty image area");
  let bitDepth = 0;
  for (let c = 0; c < components; c++) {
    const at = 4 + 38 + 3 * c;
    const ssiz = codestream[at]!;
    if ((ssiz & 0x80) !== 0) throw unsupported("signed samples");
    if (codestream[at + 1] !== 1 || codestream[at + 2] !== 1) throw unsupported("subsampled components");
    const depth = (ssiz & 0x7f) + 1;
    if (c > 0 && depth !== bitDepth) throw unsupported("components of different bit depths");
    bitDepth = depth;
  }
  if (bitDepth > 16) throw unsupported(`${bitDepth}-bit samples`);
  if (components !== 1 && components !== 3 && components !== 4) throw unsupported(`${components} components`);
  return { width, height, components, bitDepth };
}

function unsupported(what: string): AppError {
  return new AppError(ErrorCode.IMAGE_UNSUPPORTED_FORMAT, `JPEG 2000 images with ${what} are not supported; send 8- to 16-bit grey, RGB or RGBA`);
}

/**
 * Decodes a JPEG 2000 image (codestream or JP2) to RGB. The caller (openImage) has bounded the
 * bytes; the pixel bound is checked here from the SIZ marker before the decoder allocates anything.
 * Runs synchronously in WebAssembly (measured 0.2-0.6 s for 640x480 lossless on a loaded 2-core
 * machine: docs/api.md); the decoder's memory is freed after each image, though the WebAssembly
 * heap keeps its high-water mark.
 */
export async function decodeJpeg2000(bytes: Uint8Array, limits: DecodeLimits): Promise<RgbImage> {
  const codestream = codestreamOf(bytes);
  const size = sizeOf(codestream);
  if (size.width * size.height > limits.maxPixels) throw new AppError(ErrorCode.IMAGE_TOO_LARGE, `the image exceeds ${limits.maxPixels} pixels`);
  const { J2KDecoder } = await module();
  const decoder = new J2KDecoder();
  try {
    decoder.getEncodedBuffer(codestream.length).set(codestream);
    try {
      decoder.decode();
    } catch {
      throw corrupt("the decoder failed");
    }
    const info = decoder.getFrameInfo();
    const samples = decoder.getDecodedBuffer();
    const bytesPerSample = size.bitDepth > 8 ? 2 : 1;
    if (info.width !== size.width || info.height !== size.height || info.componentCount !== size.components
      || samples.length !== size.width * size.height * size.components * bytesPerSample) {
      throw corrupt("incomplete data");
    }
    return { width: size.width, height: size.height, data: toRgb(samples, size, bytesPerSample) };
  } finally {
    decoder.delete();
  }
}

/** Interleaved samples of 1, 3 or 4 components at any depth up to 16 bits -> 8-bit RGB. */
function toRgb(samples: Uint8Array, size: Size, bytesPerSample: number): Buffer {
  const pixels = size.width * size.height;
  const out = Buffer.allocUnsafe(pixels * 3);
  const max = 2 ** size.bitDepth - 1;
  const sampleAt = bytesPerSample === 1
    ? (i: number) => samples[i]!
    : (i: number) => samples[2 * i]! | (samples[2 * i + 1]! << 8);
  const scale = 255 / max;
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) {
      const v = sampleAt(p * size.components + (size.components === 1 ? 0 : c));
      out[p * 3 + c] = size.bitDepth === 8 ? v : Math.round(v * scale);
    }
  }
  return out;
}
