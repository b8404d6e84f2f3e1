import sharp from "sharp";
import { ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";
import { sniffFormat } from "./sniff.ts";

/** Decoded pixels, interleaved RGB, 8 bits per channel, already turned upright by EXIF. */
export interface RgbImage {
  width: number;
  height: number;
  data: Buffer;
}

export interface DecodeLimits {
  maxBytes: number;
  maxPixels: number;
}

// libvips would otherwise keep recently decoded images in its operation cache: images must not
// outlive the request, and the memory is better spent on concurrent requests.
sharp.cache(false);


// sharp reports problems only as English messages; these are the ones we tell apart.
const PIXEL_LIMIT = /exceeds pixel limit/i;
const UNSUPPORTED = /unsupported image format/i;

/**
 * Decodes in memory only. The pixel bound is enforced by libvips from the header, so a
 * decompression bomb is refused before any pixel buffer is allocated.
 */
export async function decodeImage(bytes: Uint8Array, limits: DecodeLimits): Promise<RgbImage> {
  checkByteBound(bytes, limits);
  const claimed = sniffFormat(bytes);
  if (claimed === undefined) throw unsupported();
  // failOn "error": truncated or broken data is refused instead of decoding to grey padding;
  // mere warnings (common in old scanner output) are tolerated.
  const options = { limitInputPixels: limits.maxPixels, failOn: "error" as const };
  let format: string | undefined;
  try {
    ({ format } = await sharp(bytes, options).metadata());
  } catch (err) {
    throw mapSharpError(err, limits);
  }
  // libvips picks its loader by content too; it must be the one the first bytes announced.
  if (format !== claimed) throw unsupported();
  try {
    const { data, info } = await sharp(bytes, options)
      .rotate()
      .removeAlpha()
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`unexpected channel count ${info.channels}`);
    return { width: info.width, height: info.height, data };
  } catch (err) {
    throw mapSharpError(err, limits);
  }
}

/** Every submitted image or record, before anything reads it: not empty, not over the byte limit. */
export function checkByteBound(bytes: Uint8Array, limits: DecodeLimits): void {
  if (bytes.length === 0) throw new AppError(ErrorCode.IMAGE_EMPTY, "the image is empty");
  if (bytes.length > limits.maxBytes) throw new AppError(ErrorCode.IMAGE_TOO_LARGE, `the image exceeds ${limits.maxBytes} bytes`);
}

function unsupported(): AppError {
  return new AppError(ErrorCode.IMAGE_UNSUPPORTED_FORMAT, "image format not supported; send JPEG, PNG, WebP, TIFF, JPEG 2000 or an ISO/ANSI-NIST record");
}

function mapSharpError(err: unknown, limits: DecodeLimits): AppError {
  const message = err instanceof Error ? err.message : String(err);
  if (PIXEL_LIMIT.test(message)) {
    return new AppError(ErrorCode.IMAGE_TOO_LARGE, `the image exceeds ${limits.maxPixels} pixels`, { cause: err });
  }
  if (UNSUPPORTED.test(message)) {
    return new AppError(ErrorCode.IMAGE_UNSUPPORTED_FORMAT, "image format not recognised; send JPEG, PNG, WebP, TIFF, JPEG 2000 or an ISO/ANSI-NIST record", { cause: err });
  }
  return new AppError(ErrorCode.IMAGE_CORRUPT, "the image data is corrupt or truncated", { cause: err });
}
