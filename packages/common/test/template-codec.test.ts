import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ErrorCode, Modality, ShardSearchRequestSchema, TemplateEventSchema } from "@taj/proto";
import {
  AppError, MAX_TEMPLATE_DIMENSIONS, decodeTemplateEvent, encodeTemplateEvent, encodeTemplateF16, encodeTemplateF32, enrolledTemplate, seededRng, wireTemplate,
} from "../src/index.ts";

const unit = (seed: number, n = 512) => {
  const rand = seededRng(seed);
  const v = Float32Array.from({ length: n }, () => rand() - 0.5);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
};
const refused = (code: ErrorCode, message: RegExp) => (e: unknown) => e instanceof AppError && e.code === code && message.test(e.message);

test("template_f32 is little-endian float32, 4 bytes a value, and reads back exactly", () => {
  assert.deepEqual([...encodeTemplateF32([1, -2])], [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]);
  const v = unit(1);
  const bytes = encodeTemplateF32(v);
  assert.equal(bytes.length, 4 * 512);
  assert.deepEqual(wireTemplate({ templateF32: bytes, template: [] }), v);
  v[0] = 99;
  assert.notEqual(wireTemplate({ templateF32: bytes, template: [] })[0], 99, "the bytes are a copy of the caller's values");
});

test("bytes at an offset that is not a multiple of 4 (as protobuf-es hands them out) decode correctly", () => {
  const v = unit(2);
  for (let offset = 0; offset < 4; offset++) {
    const buffer = new Uint8Array(offset + 4 * 512);
    buffer.set(encodeTemplateF32(v), offset);
    assert.deepEqual(wireTemplate({ templateF32: buffer.subarray(offset), template: [] }), v, `offset ${offset}`);
    // gRPC hands messages over as Node Buffers, whose slice() is a view, not a copy.
    const received = Buffer.alloc(offset + 4 * 512);
    received.set(encodeTemplateF32(v), offset);
    assert.deepEqual(wireTemplate({ templateF32: received.subarray(offset), template: [] }), v, `Buffer at offset ${offset}`);
  }
  // Through a real decode: find a request whose template_f32 lands unaligned in the received buffer.
  let unaligned = 0;
  for (let n = 1; n <= 4; n++) {
    const partitions = Array.from({ length: n }, (_, i) => i);
    const wire = toBinary(ShardSearchRequestSchema, create(ShardSearchRequestSchema, { modality: Modality.FACE, partitions, templateF32: encodeTemplateF32(v), k: 10 }));
    const received = fromBinary(ShardSearchRequestSchema, wire);
    if (received.templateF32.byteOffset % 4 !== 0) unaligned++;
    assert.deepEqual(wireTemplate(received), v);
  }
  assert.ok(unaligned > 0, "some of these requests put the template at an unaligned offset");
});

test("readers prefer template_f32 and fall back to the deprecated floats of an older writer", () => {
  const v = unit(3, 8);
  assert.deepEqual(wireTemplate({ templateF32: new Uint8Array(0), template: [...v] }), v);
  assert.deepEqual(wireTemplate({ templateF32: encodeTemplateF32(v), template: [1, 2, 3] }), v);
  const old = fromBinary(ShardSearchRequestSchema, toBinary(ShardSearchRequestSchema, create(ShardSearchRequestSchema, { template: [...v], k: 1 })));
  assert.deepEqual(wireTemplate(old), v);
});

test("a template read off the wire is validated in one place: whole float32s, 1 to MAX dimensions, finite", () => {
  const invalid = ErrorCode.INVALID_ARGUMENT;
  assert.throws(() => wireTemplate({ templateF32: new Uint8Array(6), template: [] }), refused(invalid, /multiple of 4 bytes/));
  assert.throws(() => wireTemplate({ templateF32: new Uint8Array(0), template: [] }), refused(invalid, /1 to 4096 values/));
  assert.throws(() => wireTemplate({ templateF32: new Uint8Array(4 * (MAX_TEMPLATE_DIMENSIONS + 1)), template: [] }), refused(invalid, /1 to 4096 values/));
  assert.equal(wireTemplate({ templateF32: new Uint8Array(4 * MAX_TEMPLATE_DIMENSIONS), template: [] }).length, MAX_TEMPLATE_DIMENSIONS);
  for (const bad of [Number.NaN, Infinity, -Infinity]) {
    assert.throws(() => wireTemplate({ templateF32: encodeTemplateF32([0.5, bad]), template: [] }), refused(invalid, /finite/));
    assert.throws(() => wireTemplate({ templateF32: new Uint8Array(0), template: [0.5, bad] }), refused(invalid, /finite/));
  }
  assert.throws(() => wireTemplate({ templateF32: new Uint8Array(2), template: [] }, ErrorCode.INTERNAL), refused(ErrorCode.INTERNAL, /multiple of 4/));
});

test("a log record holds the template in half precision; records older than template_f16 stay readable", () => {
  const v = unit(4);
  const enrolled = (value: { template?: number[]; templateF16?: Uint8Array }) =>
    decodeTemplateEvent(encodeTemplateEvent(create(TemplateEventSchema, { event: { case: "enrolled", value: { id: "x", modality: Modality.FACE, ...value } } })));
  const fresh = enrolled({ templateF16: encodeTemplateF16(v) });
  const old = enrolled({ template: [...v] });
  if (fresh.event.case !== "enrolled" || old.event.case !== "enrolled") throw new Error("not an enrolment");
  assert.deepEqual(enrolledTemplate(old.event.value), v, "float32 records read exactly");
  const half = enrolledTemplate(fresh.event.value);
  assert.equal(half.length, 512);
  half.forEach((x, i) => assert.ok(Math.abs(x - v[i]!) <= Math.abs(v[i]!) * 2 ** -11 + 2 ** -25, `value ${i}`));
  assert.deepEqual(enrolledTemplate({ templateF16: encodeTemplateF16(v), template: [1, 2] }), half, "template_f16 first");
});

test("a log record without a usable template reads as empty (a reader skips it, never fails)", () => {
  const none = new Uint8Array(0);
  assert.equal(enrolledTemplate({ templateF16: none, template: [] }).length, 0);
  assert.equal(enrolledTemplate({ templateF16: new Uint8Array(3), template: [] }).length, 0, "odd byte count");
  assert.equal(enrolledTemplate({ templateF16: new Uint8Array([0x00, 0x3c, 0x00, 0x7c]), template: [] }).length, 0, "infinity");
  assert.equal(enrolledTemplate({ templateF16: new Uint8Array([0x00, 0x3c, 0x01, 0x7c]), template: [] }).length, 0, "NaN");
  assert.equal(enrolledTemplate({ templateF16: new Uint8Array(2 * (MAX_TEMPLATE_DIMENSIONS + 1)), template: [] }).length, 0, "too long");
  assert.equal(enrolledTemplate({ templateF16: none, template: [0.5, Number.NaN] }).length, 0);
  assert.equal(enrolledTemplate({ templateF16: new Uint8Array([0x00, 0x3c]), template: [] })[0], 1);
});
