import type { EyePair } from "../pipeline.ts";
import { malformed, unsupportedRecord, type EmbeddedImage } from "./embedded.ts";

// ANSI/NIST-ITL 1-2011 traditional encoding: a tagged record is fields "<type>.<field>:<value>",
// fields separated by GS, subfields by RS, items by US, the record ended by FS.
const FS = 0x1c;
const GS = 0x1d;
const RS = "\x1e";
const US = "\x1f";
/** Record types 3-8 are binary: a 4-byte big-endian length first, no tags. */
const BINARY_TYPES = new Set([3, 4, 5, 6, 7, 8]);
/** A record's fields before its image data are text; longer than this is not a record we accept. */
const MAX_TEXT_BYTES = 1 << 20;

export type Type10ImageType = "FACE" | "TATTOO" | "SCAR" | "MARK" | "OTHER";

export interface Type10Image extends EmbeddedImage {
  imageType: Type10ImageType;
  /** NCIC SMT codes of field 10.040, in order (e.g. "TAT L ARM"). */
  smtCodes: string[];
}

const startsWith = (bytes: Uint8Array, at: number, text: string) => [...text].every((c, i) => bytes[at + i] === c.charCodeAt(0));

/** A whole transaction (Type-1 first) or a lone Type-10 record. */
export const isAnsiNist = (bytes: Uint8Array) => /^(1|10)\.0*(1):/.test(asciiPrefix(bytes, 12));

/** Bytes [from, to) as Latin-1 text (each byte one character), without spreading a large array. */
function text(bytes: Uint8Array, from: number, to: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + from, Math.max(0, Math.min(to, bytes.length) - from)).toString("latin1");
}

const asciiPrefix = (bytes: Uint8Array, n: number) => text(bytes, 0, n);

interface TaggedRecord {
  type: number;
  /** Text fields by field number (values with their RS/US separators); 999 is left out. */
  fields: Map<number, string>;
  /** Field 999 (the image), when present. */
  data?: Uint8Array;
  length: number;
}

/** The decimal length in field <type>.001, the record's total length in bytes including its FS. */
function recordLength(bytes: Uint8Array, at: number, type: number): number {
  const head = text(bytes, at, at + 32);
  const m = new RegExp(`^${type}\\.0*1:(\\d{1,10})\\x1d`).exec(head);
  if (!m) throw malformed(`Type-${type} record does not start with its length field ${type}.001`);
  const length = Number(m[1]);
  if (at + length > bytes.length) throw malformed(`Type-${type} record's length runs past the data (truncated?)`);
  if (length < m[0].length + 1 || bytes[at + length - 1] !== FS) throw malformed(`Type-${type} record does not end with a file separator where its length says`);
  return length;
}

function parseTagged(bytes: Uint8Array, at: number, type: number): TaggedRecord {
  const length = recordLength(bytes, at, type);
  const end = at + length - 1; // the FS
  const fields = new Map<number, string>();
  let data: Uint8Array | undefined;
  let p = at;
  const tag = new RegExp(`^${type}\\.(\\d{1,3}):`);
  while (p < end) {
    const head = text(bytes, p, Math.min(end, p + 12));
    const m = tag.exec(head);
    if (!m) throw malformed(`Type-${type} record has a field without a ${type}.<number>: tag`);
    const field = Number(m[1]);
    const valueAt = p + m[0].length;
    if (field === 999) {
      // The image runs to the end of the record: binary, so it may hold separator bytes itself.
      data = bytes.subarray(valueAt, end);
      break;
    }
    let q = valueAt;
    while (q < end && bytes[q] !== GS) q++;
    if (q - at > MAX_TEXT_BYTES) throw malformed(`Type-${type} record's text fields are too long`);
    if (fields.has(field)) throw malformed(`Type-${type} record repeats field ${type}.${field}`);
    fields.set(field, text(bytes, valueAt, q));
    p = q + 1;
  }
  return { type, fields, length, ...(data ? { data } : {}) };
}

/** The record types a transaction holds after its Type-1, from field 1.003 (CNT). */
function contentTypes(type1: TaggedRecord): number[] {
  const cnt = type1.fields.get(3);
  if (cnt === undefined) throw malformed("Type-1 record lacks field 1.003 (the file content)");
  const [head, ...rest] = cnt.split(RS).map((s) => s.split(US));
  const declared = Number(head?.[1]);
  if (head?.[0] !== "1" || !Number.isInteger(declared) || declared !== rest.length) {
    throw malformed("field 1.003 does not count the records it lists");
  }
  return rest.map((item) => {
    const t = Number(item[0]);
    if (!Number.isInteger(t) || t < 2 || t > 99) throw malformed("field 1.003 lists a record type that does not exist");
    return t;
  });
}

/** Every Type-10 image of a transaction (or the one of a lone Type-10 record), in file order. */
export function parseAnsiNist(bytes: Uint8Array): Type10Image[] {
  const prefix = asciiPrefix(bytes, 12);
  if (/^10\./.test(prefix)) {
    const record = parseTagged(bytes, 0, 10);
    return [type10Image(record, 1)];
  }
  const type1 = parseTagged(bytes, 0, 1);
  const types = contentTypes(type1);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const images: Type10Image[] = [];
  let at = type1.length;
  for (const [n, type] of types.entries()) {
    if (at >= bytes.length) throw malformed(`record ${n + 2} of the transaction is missing (truncated?)`);
    if (BINARY_TYPES.has(type)) {
      if (at + 4 > bytes.length) throw malformed(`Type-${type} record is truncated`);
      const length = view.getUint32(at);
      if (length < 4 || at + length > bytes.length) throw malformed(`Type-${type} record's length runs past the data (truncated?)`);
      at += length;
      continue;
    }
    if (!startsWith(bytes, at, `${type}.`)) throw malformed(`record ${n + 2} is not the Type-${type} record field 1.003 announces`);
    if (type === 10) {
      const record = parseTagged(bytes, at, 10);
      images.push(type10Image(record, n + 2));
      at += record.length;
    } else {
      // Other records (Type-2's descriptive text among them) are stepped over by length, unread.
      at += recordLength(bytes, at, type);
    }
  }
  return images;
}

function type10Image(record: TaggedRecord, position: number): Type10Image {
  const where = `Type-10 record (record ${position})`;
  const imt = record.fields.get(3)?.trim().toUpperCase();
  if (imt === undefined) throw malformed(`${where} lacks field 10.003 (the image type)`);
  const cga = record.fields.get(11)?.trim().toUpperCase();
  if (cga === undefined) throw malformed(`${where} lacks field 10.011 (the compression)`);
  if (record.data === undefined || record.data.length === 0) throw malformed(`${where} lacks its image, field 10.999`);
  const imageType: Type10ImageType = imt === "FACE" || imt === "TATTOO" || imt === "SCAR" || imt === "MARK" ? imt : "OTHER";
  const smtCodes = (record.fields.get(40) ?? "").split(RS).map((s) => s.trim().toUpperCase()).filter((s) => s !== "");
  const eyes = eyeCentres(record.fields.get(29));
  const base = { imageType, smtCodes, bytes: record.data, ...(eyes ? { eyes } : {}) };
  switch (cga) {
    case "JPEGB":
      return { ...base, encoding: "jpeg" };
    case "JP2":
    case "JP2L":
      return { ...base, encoding: "jpeg2000" };
    case "PNG":
      return { ...base, encoding: "png" };
    case "NONE": {
      const width = Number(record.fields.get(6));
      const height = Number(record.fields.get(7));
      if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
        throw malformed(`${where} has no image size (fields 10.006 and 10.007) for its uncompressed image`);
      }
      return { ...base, encoding: "raw", width, height };
    }
    case "JPEGL":
      throw unsupportedRecord("lossless JPEG (10.011 JPEGL)");
    default:
      throw unsupportedRecord("the compression named in field 10.011");
  }
}

/** Field 10.029 (FFP): both eye centres, as MPEG-4 points 12.1 and 12.2 (type 1), when given. */
function eyeCentres(ffp: string | undefined): EyePair | undefined {
  if (ffp === undefined) return undefined;
  const eyes: { x: number; y: number }[] = [];
  for (const subfield of ffp.split(RS)) {
    const [type, code, x, y] = subfield.split(US).map((s) => s.trim());
    if (type !== "1" || (code !== "12.1" && code !== "12.2")) continue;
    const point = { x: Number(x), y: Number(y) };
    if (Number.isFinite(point.x) && Number.isFinite(point.y)) eyes.push(point);
  }
  const [first, second] = eyes;
  return eyes.length === 2 && first && second ? [first, second] : undefined;
}
