import { ErrorCode } from "@taj/proto";
import { AppError } from "./errors.ts";
import { MAX_TEMPLATE_DIMENSIONS } from "./cluster-constants.ts";
import { decodeF16, encodeF16 } from "./half.ts";

/**
 * Templates as bytes. On the wire between services (ExtractResponse, CoordinatedSearchRequest,
 * ShardSearchRequest) a template is `template_f32`, little-endian float32: protobuf-es encodes a
 * 512-value `repeated float` ~100x slower than the same bytes. In the template log it is
 * `template_f16` (half the record). Readers take the bytes and fall back to the deprecated
 * `repeated float template` (one release on the wire; forever in the log, which keeps old
 * records). This file is the one place a template read from a message is validated.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A message that carries a template as template_f32, or from an older writer, as floats. */
export interface F32Carrier {
  templateF32: Uint8Array;
  /** @deprecated read through wireTemplate */
  template: number[];
}

/** A TemplateEnrolled's template fields: template_f16, or in records older than it, floats. */
export interface F16Carrier {
  templateF16: Uint8Array;
  /** @deprecated read through enrolledTemplate */
  template: number[];
}

/** Why `values` is not a usable template, or undefined when it is. */
function templateProblem(values: ArrayLike<number>): string | undefined {
  if (values.length === 0 || values.length > MAX_TEMPLATE_DIMENSIONS) return `template must have 1 to ${MAX_TEMPLATE_DIMENSIONS} values`;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return "template values must be finite numbers";
  return undefined;
}

/** Little-endian float32 bytes of `values` (a copy: the message never shares the caller's buffer). */
export function encodeTemplateF32(values: ArrayLike<number>): Uint8Array {
  const floats = Float32Array.from(values);
  if (LITTLE_ENDIAN) return new Uint8Array(floats.buffer);
  const out = new Uint8Array(floats.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < floats.length; i++) view.setFloat32(i * 4, floats[i]!, true);
  return out;
}

/**
 * The floats of little-endian float32 bytes, undefined when the length is not a multiple of 4.
 * A view when the bytes are 4-byte aligned; a copy otherwise (protobuf-es hands out `bytes` as a
 * subarray of the received buffer, at whatever offset the field had).
 */
function decodeF32(bytes: Uint8Array): Float32Array | undefined {
  if (bytes.length % 4 !== 0) return undefined;
  if (LITTLE_ENDIAN) {
    // new Uint8Array(bytes) copies into a fresh buffer; Buffer#slice (what gRPC hands over) would not.
    const aligned = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes);
    return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/**
 * The template of an internal request or answer: template_f32, else the deprecated floats of an
 * older writer. `code` (INVALID_ARGUMENT; a gateway reading its extractor's answer says INTERNAL:
 * not its caller's fault) when it is not 1 to MAX_TEMPLATE_DIMENSIONS finite float32 values.
 */
export function wireTemplate(message: F32Carrier, code: ErrorCode = ErrorCode.INVALID_ARGUMENT): Float32Array {
  const values = message.templateF32.length > 0 ? decodeF32(message.templateF32) : Float32Array.from(message.template);
  if (!values) throw new AppError(code, "template_f32 must be whole float32 values (a multiple of 4 bytes)");
  const problem = templateProblem(values);
  if (problem) throw new AppError(code, problem);
  return values;
}

/** What a gateway writes into TemplateEnrolled: template_f16 only (throws RangeError beyond half precision's range). */
export function encodeTemplateF16(values: ArrayLike<number>): Uint8Array {
  return encodeF16(values);
}

/**
 * The template of a log record: template_f16, else the floats of a record written before it.
 * Empty when the record holds no usable template (none, an odd byte count, too long, or not
 * finite): log readers skip such a record, they never fail on it.
 */
export function enrolledTemplate(enrolled: F16Carrier): Float32Array {
  const f16 = enrolled.templateF16;
  const values = f16.length > 0 ? (f16.length % 2 === 0 ? decodeF16(f16) : undefined) : Float32Array.from(enrolled.template);
  return values && templateProblem(values) === undefined ? values : new Float32Array(0);
}
