import { malformed, unsupportedRecord, type EmbeddedImage } from "./embedded.ts";

const MAGIC = [0x46, 0x41, 0x43, 0x00]; // "FAC\0"
const GENERAL_HEADER = 14;
const FACIAL_INFORMATION = 20;
const FEATURE_POINT = 8;
const IMAGE_INFORMATION = 12;
/** MPEG-4 feature points 12.1 and 12.2: the eye centres (ISO/IEC 19794-5:2005, 5.6.3). */
const EYE_CENTRE_CODES = new Set([0xc1, 0xc2]);
const MPEG4_POINT = 1;

export const isFaceRecord = (bytes: Uint8Array) => MAGIC.every((b, i) => bytes[i] === b);

/**
 * The facial images of an ISO/IEC 19794-5:2005 record (version "010"): general header, then per
 * image a facial information block, its feature points, an image information block and the
 * JPEG or JPEG 2000 data. Gender, eye and hair colour, expression and pose are skipped unread.
 * The 2011 edition ("030") and ISO/IEC 39794-5 lay the record out differently: refused by name.
 */
export function parseFaceRecord(bytes: Uint8Array): EmbeddedImage[] {
  if (bytes.length < GENERAL_HEADER) throw malformed("shorter than the ISO/IEC 19794-5 general header");
  const version = String.fromCharCode(...bytes.subarray(4, 7));
  if (bytes[7] !== 0 || !/^\d{3}$/.test(version)) throw malformed("the ISO/IEC 19794-5 version is not three digits");
  if (version !== "010") throw unsupportedRecord(`ISO/IEC 19794-5 version ${version} (only the 2005 edition, 010,)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const recordLength = view.getUint32(8);
  const count = view.getUint16(12);
  if (recordLength > bytes.length) throw malformed("the record length runs past the data (truncated?)");
  if (recordLength < GENERAL_HEADER) throw malformed("the record length is shorter than its header");
  if (count === 0) throw malformed("the record declares no facial image");
  const images: EmbeddedImage[] = [];
  let at = GENERAL_HEADER;
  for (let n = 0; n < count; n++) {
    if (at + FACIAL_INFORMATION > recordLength) throw malformed(`facial image ${n + 1} of ${count} is missing`);
    const blockLength = view.getUint32(at);
    const end = at + blockLength;
    const points = view.getUint16(at + 4);
    const imageInfo = at + FACIAL_INFORMATION + points * FEATURE_POINT;
    if (blockLength < FACIAL_INFORMATION + IMAGE_INFORMATION || end > recordLength || imageInfo + IMAGE_INFORMATION > end) {
      throw malformed(`facial image ${n + 1}'s block length does not fit the record`);
    }
    const eyes: { x: number; y: number }[] = [];
    for (let p = 0; p < points; p++) {
      const q = at + FACIAL_INFORMATION + p * FEATURE_POINT;
      if (bytes[q] === MPEG4_POINT && EYE_CENTRE_CODES.has(bytes[q + 1]!)) eyes.push({ x: view.getUint16(q + 2), y: view.getUint16(q + 4) });
    }
    const dataType = bytes[imageInfo + 1];
    if (dataType !== 0 && dataType !== 1) throw unsupportedRecord(`ISO/IEC 19794-5 image data type ${dataType}`);
    const data = bytes.subarray(imageInfo + IMAGE_INFORMATION, end);
    if (data.length === 0) throw malformed(`facial image ${n + 1} has no image data`);
    const [first, second] = eyes;
    images.push({
      encoding: dataType === 0 ? "jpeg" : "jpeg2000",
      bytes: data,
      width: view.getUint16(imageInfo + 2),
      height: view.getUint16(imageInfo + 4),
      ...(eyes.length === 2 && first && second ? { eyes: [first, second] as const } : {}),
    });
    at = end;
  }
  return images;
}
