import { ErrorCode, Modality, RecordFormat } from "@taj/proto";
import { AppError, bodyLocationOfSmtCode, modalityName } from "@taj/common";
import { checkByteBound, decodeImage, type DecodeLimits, type RgbImage } from "../decode.ts";
import type { EyePair } from "../pipeline.ts";
import { sniffFormat } from "../sniff.ts";
import { isAnsiNist, parseAnsiNist, type Type10ImageType } from "./ansi-nist.ts";
import { malformed, type EmbeddedImage } from "./embedded.ts";
import { isFaceRecord, parseFaceRecord } from "./iso-19794-5.ts";
import { decodeJpeg2000, isJpeg2000 } from "./jpeg2000.ts";

/** What the bytes were, as ExtractResponse.record reports it. */
export interface RecordSummary {
  format: RecordFormat;
  imageEncoding: string;
  bodyLocation: string;
  imageIndex: number;
}

export interface OpenedImage {
  image: RgbImage;
  record: RecordSummary;
  eyes?: EyePair;
}

/** Which Type-10 image types belong to a modality: scars count as marks (TAJ's "marks" are scars, piercings and other marks). */
const TYPE10_OF: Partial<Record<Modality, readonly Type10ImageType[]>> = {
  [Modality.FACE]: ["FACE"],
  [Modality.TATTOO]: ["TATTOO"],
  [Modality.MARK]: ["SCAR", "MARK"],
};

/**
 * Turns the submitted bytes into pixels: a plain image (JPEG, PNG, WebP, TIFF, JPEG 2000), or the
 * image inside an ISO/IEC 19794-5 face record or an ANSI/NIST-ITL transaction, with what the
 * record says that we use (eye centres, a tattoo's or mark's body location). Nothing else of a
 * record is read; its text fields never leave this function.
 */
export async function openImage(bytes: Uint8Array, modality: Modality, imageIndex: number | undefined, limits: DecodeLimits): Promise<OpenedImage> {
  checkByteBound(bytes, limits);
  if (isFaceRecord(bytes)) {
    if (modality !== Modality.FACE) throw noMatching(`an ISO/IEC 19794-5 record holds face images, not ${modalityName(modality)} images`);
    // One record is one person: its several images are alternatives, so the first serves by default.
    const images = parseFaceRecord(bytes);
    const index = imageIndex ?? 0;
    const chosen = images[index];
    if (chosen === undefined) throw noMatching(`the record holds ${images.length} facial image(s); record_image_index ${index} is beyond them`);
    return fromRecord(chosen, RecordFormat.ISO_19794_5, index, "", limits);
  }
  if (isAnsiNist(bytes)) {
    const wanted = TYPE10_OF[modality] ?? [];
    const images = parseAnsiNist(bytes).filter((i) => wanted.includes(i.imageType));
    if (images.length === 0) throw noMatching(`the record holds no Type-10 image of type ${wanted.join(" or ") || modalityName(modality)}`);
    if (imageIndex === undefined && images.length > 1) {
      throw new AppError(ErrorCode.RECORD_SEVERAL_IMAGES, `the record holds ${images.length} ${modalityName(modality)} images; send record_image_index to choose one`, {
        recordImages: images.length,
      });
    }
    const index = imageIndex ?? 0;
    const chosen = images[index];
    if (chosen === undefined) throw noMatching(`the record holds ${images.length} ${modalityName(modality)} image(s); record_image_index ${index} is beyond them`);
    const bodyLocation = modality === Modality.FACE ? "" : (bodyLocationOfSmtCode(chosen.smtCodes[0] ?? "") ?? "");
    return fromRecord(chosen, RecordFormat.ANSI_NIST_TYPE_10, index, bodyLocation, limits);
  }
  const plain = { format: RecordFormat.NONE, imageEncoding: "", bodyLocation: "", imageIndex: 0 };
  if (isJpeg2000(bytes)) return { image: await decodeJpeg2000(bytes, limits), record: plain };
  return { image: await decodeImage(bytes, limits), record: plain };
}

const noMatching = (message: string) => new AppError(ErrorCode.RECORD_NO_MATCHING_IMAGE, message);

async function fromRecord(embedded: EmbeddedImage, format: RecordFormat, imageIndex: number, bodyLocation: string, limits: DecodeLimits): Promise<OpenedImage> {
  const image = await decodeEmbedded(embedded, limits);
  return {
    image,
    record: { format, imageEncoding: embedded.encoding, bodyLocation, imageIndex },
    ...(embedded.eyes ? { eyes: embedded.eyes } : {}),
  };
}

function decodeEmbedded(embedded: EmbeddedImage, limits: DecodeLimits): Promise<RgbImage> {
  switch (embedded.encoding) {
    case "jpeg2000":
      if (!isJpeg2000(embedded.bytes)) throw malformed("the image data is not the JPEG 2000 the record declares");
      return decodeJpeg2000(embedded.bytes, limits);
    case "jpeg":
    case "png":
      // The record's own word for the compression must match the data, as a file's name would not.
      if (sniffFormat(embedded.bytes) !== embedded.encoding) throw malformed(`the image data is not the ${embedded.encoding.toUpperCase()} the record declares`);
      return decodeImage(embedded.bytes, limits);
    case "raw":
      return Promise.resolve(rawImage(embedded, limits));
  }
}

/** Uncompressed Type-10 data: rows of 8-bit grey or RGB, the size from fields 10.006/10.007. */
function rawImage({ bytes, width = 0, height = 0 }: EmbeddedImage, limits: DecodeLimits): RgbImage {
  if (width * height > limits.maxPixels) throw new AppError(ErrorCode.IMAGE_TOO_LARGE, `the image exceeds ${limits.maxPixels} pixels`);
  const pixels = width * height;
  if (bytes.length === pixels * 3) return { width, height, data: Buffer.from(bytes) };
  if (bytes.length !== pixels) throw malformed("the uncompressed image's size does not match fields 10.006 and 10.007 (grey or RGB)");
  const data = Buffer.allocUnsafe(pixels * 3);
  for (let i = 0; i < pixels; i++) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = bytes[i]!;
  return { width, height, data };
}
