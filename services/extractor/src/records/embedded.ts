import { ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";
import type { EyePair } from "../pipeline.ts";

/** An image inside an exchange record, with what the record says about it that we use. */
export interface EmbeddedImage {
  encoding: "jpeg" | "jpeg2000" | "png" | "raw";
  bytes: Uint8Array;
  /** For "raw": the record's declared size; the bytes are 8-bit grey or RGB rows. */
  width?: number;
  height?: number;
  /** Eye centres in the image's pixels, when the record gives both. */
  eyes?: EyePair;
}

/**
 * The one way a record parser reports broken structure. The message says what is wrong and
 * where by field number or block, never a value read from the record.
 */
export function malformed(what: string): AppError {
  return new AppError(ErrorCode.RECORD_MALFORMED, `the record is malformed: ${what}`);
}

export function unsupportedRecord(what: string): AppError {
  return new AppError(ErrorCode.RECORD_UNSUPPORTED, `${what} is not supported`);
}
