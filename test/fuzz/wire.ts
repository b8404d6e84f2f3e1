// Protobuf wire format written by hand, so a case can put any wire type on any field number,
// including ones no encoder would produce (wrong types, bad tags, overlong varints, lying lengths).

export const WireType = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

export function varint(value: bigint | number): Buffer {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

export function tag(field: number, wireType: number): Buffer {
  return varint((BigInt(field) << 3n) | BigInt(wireType & 7));
}

export function varintField(field: number, value: bigint | number): Buffer {
  return Buffer.concat([tag(field, WireType.VARINT), varint(value)]);
}

export function lenField(field: number, payload: Uint8Array | string): Buffer {
  const bytes = typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload);
  return Buffer.concat([tag(field, WireType.LEN), varint(bytes.length), bytes]);
}

export function floatField(field: number, value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeFloatLE(value);
  return Buffer.concat([tag(field, WireType.I32), b]);
}

/** A float given by its raw bits (signalling NaN, negative zero, denormals). */
export function floatBitsField(field: number, bits: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(bits >>> 0);
  return Buffer.concat([tag(field, WireType.I32), b]);
}

export function fixed64Field(field: number, value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, value));
  return Buffer.concat([tag(field, WireType.I64), b]);
}

/** A box message (x, y, width, height: floats 1-4). */
export function box(values: readonly [number, number, number, number]): Buffer {
  return Buffer.concat(values.map((v, i) => floatField(i + 1, v)));
}

export interface FieldSpec {
  field: number;
  name: string;
  wireType: number;
}

/** The fields of the public requests (proto/taj/v1/matching.proto), for the wire-type cases. */
export const REQUEST_FIELDS: Record<"Enroll" | "Search" | "Delete" | "Get" | "Stats", readonly FieldSpec[]> = {
  Enroll: [
    { field: 1, name: "modality", wireType: WireType.VARINT },
    { field: 2, name: "id", wireType: WireType.LEN },
    { field: 3, name: "image", wireType: WireType.LEN },
    { field: 4, name: "face_box", wireType: WireType.LEN },
  ],
  Search: [
    { field: 1, name: "modality", wireType: WireType.VARINT },
    { field: 2, name: "image", wireType: WireType.LEN },
    { field: 3, name: "similarity_threshold", wireType: WireType.I32 },
    { field: 4, name: "max_candidates", wireType: WireType.VARINT },
    { field: 5, name: "case_ref", wireType: WireType.LEN },
    { field: 6, name: "face_box", wireType: WireType.LEN },
    { field: 7, name: "mode", wireType: WireType.VARINT },
    { field: 8, name: "allow_partial", wireType: WireType.VARINT },
  ],
  Delete: [
    { field: 1, name: "modality", wireType: WireType.VARINT },
    { field: 2, name: "id", wireType: WireType.LEN },
  ],
  Get: [
    { field: 1, name: "modality", wireType: WireType.VARINT },
    { field: 2, name: "id", wireType: WireType.LEN },
  ],
  Stats: [],
};
