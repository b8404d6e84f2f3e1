import { createRequire } from "node:module";

// Test-only: records built to the published layouts (ISO/IEC 19794-5:2005; ANSI/NIST-ITL 1-2011
// traditional encoding), and JPEG 2000 made by OpenJPEG's encoder (the full WebAssembly build of
// the package the extractor decodes with).

interface J2kEncoder {
  getDecodedBuffer(info: { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean; isUsingColorTransform: boolean }): Uint8Array;
  setQuality(lossless: boolean, quality: number): void;
  setDecompositions(levels: number): void;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
  delete(): void;
}
type Factory = (o: { print: () => void; printErr: () => void }) => Promise<{ J2KEncoder: new () => J2kEncoder }>;
const require = createRequire(import.meta.url);
let encoderModule: ReturnType<Factory> | undefined;

/** A lossless JPEG 2000 codestream of interleaved samples (1 or 3 components, 8 or 16 bits: 16-bit samples little-endian). */
export async function jpeg2000(samples: Uint8Array, width: number, height: number, components: number, bitsPerSample = 8): Promise<Uint8Array> {
  const quiet = () => {};
  encoderModule ??= (require("@cornerstonejs/codec-openjpeg/wasmjs") as Factory)({ print: quiet, printErr: quiet });
  const { J2KEncoder } = await encoderModule;
  const encoder = new J2KEncoder();
  try {
    encoder.getDecodedBuffer({ width, height, bitsPerSample, componentCount: components, isSigned: false, isUsingColorTransform: components === 3 }).set(samples);
    encoder.setQuality(true, 0);
    // OpenJPEG's default of 5 wavelet levels fails on images a few dozen pixels wide.
    if (Math.min(width, height) < 256) encoder.setDecompositions(2);
    encoder.encode();
    return encoder.getEncodedBuffer().slice();
  } finally {
    encoder.delete();
  }
}

/** A codestream wrapped as a minimal JP2 file: signature, file type, header (image header) and codestream boxes. */
export function jp2(codestream: Uint8Array, width: number, height: number, components: number): Uint8Array {
  const box = (type: string, body: Uint8Array) => {
    const out = new Uint8Array(8 + body.length);
    new DataView(out.buffer).setUint32(0, out.length);
    out.set(Buffer.from(type, "latin1"), 4);
    out.set(body, 8);
    return out;
  };
  const ihdr = new Uint8Array(14);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, height);
  v.setUint32(4, width);
  v.setUint16(8, components);
  ihdr[10] = 7; // 8 bits
  ihdr[11] = 7; // compression: JPEG 2000
  return Buffer.concat([
    box("jP  ", Uint8Array.from([0x0d, 0x0a, 0x87, 0x0a])),
    box("ftyp", Buffer.concat([Buffer.from("jp2 ", "latin1"), Buffer.alloc(4), Buffer.from("jp2 ", "latin1")])),
    box("jp2h", box("ihdr", ihdr)),
    box("jp2c", codestream),
  ]);
}

export interface FaceImageSpec {
  data: Uint8Array;
  /** 0 JPEG, 1 JPEG 2000. */
  dataType: 0 | 1;
  width: number;
  height: number;
  /** MPEG-4 feature points (type 1): [major, minor, x, y]. */
  points?: [number, number, number, number][];
}

/** An ISO/IEC 19794-5:2005 record (version 010) of the given facial images. */
export function faceRecord(images: FaceImageSpec[], version = "010"): Uint8Array {
  const blocks = images.map((img) => {
    const points = img.points ?? [];
    const head = Buffer.alloc(20 + points.length * 8 + 12);
    head.writeUInt16BE(points.length, 4);
    head[6] = 1; // gender: male (read by nobody here)
    head[7] = 3; // eye colour: brown
    points.forEach(([major, minor, x, y], i) => {
      const at = 20 + i * 8;
      head[at] = 1;
      head[at + 1] = (major << 4) | minor;
      head.writeUInt16BE(x, at + 2);
      head.writeUInt16BE(y, at + 4);
    });
    const info = 20 + points.length * 8;
    head[info] = 1; // full frontal
    head[info + 1] = img.dataType;
    head.writeUInt16BE(img.width, info + 2);
    head.writeUInt16BE(img.height, info + 4);
    head[info + 6] = 1; // sRGB
    const block = Buffer.concat([head, img.data]);
    block.writeUInt32BE(block.length, 0);
    return block;
  });
  const header = Buffer.alloc(14);
  header.write("FAC\0", 0, "latin1");
  header.write(`${version}\0`, 4, "latin1");
  const all = Buffer.concat([header, ...blocks]);
  all.writeUInt32BE(all.length, 8);
  all.writeUInt16BE(images.length, 12);
  return all;
}

const FS = "\x1c", GS = "\x1d", RS = "\x1e", US = "\x1f";

/** A tagged record: fields in order, 999 (binary) last; field .001 (its length) filled in. */
export function taggedRecord(type: number, fields: [number, string][], data?: Uint8Array): Uint8Array {
  const body = fields.map(([n, v]) => `${type}.${String(n).padStart(3, "0")}:${v}`).join(GS);
  const tail = data === undefined ? Buffer.from(FS, "latin1") : Buffer.concat([Buffer.from(`${GS}${type}.999:`, "latin1"), data, Buffer.from(FS, "latin1")]);
  // The length field counts itself: find the fixed point of its digit count.
  let length = 0;
  for (let digits = 1; digits < 12; digits++) {
    const candidate = `${type}.001:`.length + digits + 1 + Buffer.byteLength(body, "latin1") + tail.length;
    if (String(candidate).length === digits) {
      length = candidate;
      break;
    }
  }
  return Buffer.concat([Buffer.from(`${type}.001:${length}${GS}${body}`, "latin1"), tail]);
}

export interface Type10Spec {
  imageType: "FACE" | "TATTOO" | "SCAR" | "MARK";
  compression: "JPEGB" | "JP2" | "JP2L" | "PNG" | "NONE" | "JPEGL" | "WSQ20";
  data: Uint8Array;
  width?: number;
  height?: number;
  smt?: string[];
  /** FFP points: [code, x, y], type 1 (MPEG-4). */
  featurePoints?: [string, number, number][];
  comment?: string;
}

export function type10(spec: Type10Spec, idc: number): Uint8Array {
  const fields: [number, string][] = [
    [2, String(idc)],
    [3, spec.imageType],
    [4, "TAJTEST"],
    [5, "20261202"],
    [6, String(spec.width ?? 0)],
    [7, String(spec.height ?? 0)],
    [8, "0"],
    [9, "1"],
    [10, "1"],
    [11, spec.compression],
    [12, spec.compression === "NONE" && spec.data.length === (spec.width ?? 0) * (spec.height ?? 0) ? "GRAY" : "SRGB"],
  ];
  if (spec.featurePoints) fields.push([29, spec.featurePoints.map(([code, x, y]) => ["1", code, String(x), String(y)].join(US)).join(RS)]);
  if (spec.comment) fields.push([38, spec.comment]);
  if (spec.smt) fields.push([40, spec.smt.join(RS)]);
  return taggedRecord(10, fields, spec.data);
}

/** A Type-4 (binary fingerprint) record: 4-byte length, then anything. */
export function type4(payload: Uint8Array): Uint8Array {
  const out = Buffer.alloc(4 + payload.length);
  out.writeUInt32BE(out.length, 0);
  out.set(payload, 4);
  return out;
}

/** A whole transaction: Type-1 (its CNT listing the records), then the records in order. */
export function transaction(records: { type: number; bytes: Uint8Array }[], cntOverride?: string): Uint8Array {
  const cnt = cntOverride ?? [`1${US}${records.length}`, ...records.map((r, i) => `${r.type}${US}${i + 1}`)].join(RS);
  const type1 = taggedRecord(1, [[2, "0500"], [3, cnt], [4, "CAR"], [5, "20261202"], [7, "DAI000000"], [8, "ORI000000"], [9, "TCN-1"], [11, "00.00"], [12, "00.00"]]);
  return Buffer.concat([type1, ...records.map((r) => r.bytes)]);
}

/** A Type-2 record with descriptive text a real transaction would carry (a name). */
export function type2(name: string): Uint8Array {
  return taggedRecord(2, [[2, "0"], [18, name]]);
}
