import { ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";
import type { DecodeLimits, RgbImage } from "../decode.ts";
import { decoderThread, type Size } from "./jpeg2000-thread.ts";

// libvips (sharp) has no JPEG 2000 loader; OpenJPEG, compiled to WebAssembly and published on npm
// by the Cornerstone project, decodes it, in a worker thread (jpeg2000-worker.ts): a decode takes
// up to seconds, and the extractor's event loop (health checks, other calls) must not wait on it.

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
 * The decode itself runs in the process's JPEG 2000 worker thread, one image at a time (measured
 * 0.2-0.6 s for 640x480 lossless on a loaded 2-core machine: docs/api.md).
 */
export async function decodeJpeg2000(bytes: Uint8Array, limits: DecodeLimits): Promise<RgbImage> {
  const codestream = codestreamOf(bytes);
  const size = sizeOf(codestream);
  if (size.width * size.height > limits.maxPixels) throw new AppError(ErrorCode.IMAGE_TOO_LARGE, `the image exceeds ${limits.maxPixels} pixels`);
  // A copy of its own goes to the thread (a Buffer's slice() would share, and hand over, the caller's memory).
  const reply = await decoderThread().decode(new Uint8Array(codestream), size);
  if ("corrupt" in reply) throw corrupt(reply.corrupt);
  return { width: size.width, height: size.height, data: Buffer.from(reply.rgb.buffer, reply.rgb.byteOffset, reply.rgb.byteLength) };
}
